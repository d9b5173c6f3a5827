import Foundation
import Synchronization

/// What one job may send to providers, so that no input and no failing provider can run up an unbounded bill.
///
/// A job's allowance is `multiple` × the work it holds (seconds of audio decoded so far, characters of text):
/// retries and fallbacks together may send its audio `multiple` times over, and no more; past that the job stops with
/// the reason instead of spending more. Only what reaches a provider counts: an attempt that sent nothing is refunded.
/// Billing ("cloud") providers may also be capped per job and, across the worker, per hour (``CloudAllowance``); a
/// spent cap skips them, so the job can still be served locally, or fails and is retried with the queue's backoff.
///
/// ``FallbackChain`` asks the job's budget before every attempt; it finds it in ``current``, a task local, so every
/// chunk task of a job sees its job's budget without the providers' interfaces carrying it.
package final class ProviderBudget: Sendable {
    /// The budget of the job running in this task, if it has one.
    @TaskLocal package static var current: ProviderBudget?

    /// What the work is counted in.
    package enum Unit: String, Sendable, Codable {
        /// Seconds of audio (transcription).
        case audioSeconds = "audio_seconds"
        /// Characters of text (speech).
        case characters
    }

    /// What a job was allowed and has sent, for its JSON and for the next attempt.
    package struct Spend: Sendable, Codable, Equatable {
        /// The unit of every figure.
        package var unit: Unit
        /// What the job may send: `multiple` × its work.
        package var allowed: Double
        /// What it sent, to every provider, failed attempts included.
        package var sent: Double
        /// What it sent to billing providers.
        package var cloudSent: Double
        /// What it may send to billing providers, if capped.
        package var cloudAllowed: Double?
        /// The job's attempt that sent it: a spend from this attempt or a later one belongs to a run before a hand
        /// retry (which resets the attempts), and is not carried over.
        package var attempt: Int?

        /// Creates a spend.
        package init(
            unit: Unit, allowed: Double, sent: Double, cloudSent: Double, cloudAllowed: Double? = nil,
            attempt: Int? = nil
        ) {
            self.unit = unit
            self.allowed = allowed
            self.sent = sent
            self.cloudSent = cloudSent
            self.cloudAllowed = cloudAllowed
            self.attempt = attempt
        }

        private enum CodingKeys: String, CodingKey {
            case unit, allowed, sent, attempt
            case cloudSent = "cloud_sent"
            case cloudAllowed = "cloud_allowed"
        }
    }

    /// Whether an attempt may go.
    package enum Decision: Sendable, Equatable {
        /// Send it; it is counted.
        case send
        /// Skip this provider (a cloud cap is spent), with the reason.
        case skip(String)
        /// Send nothing more for this job, with the reason.
        case stop(String)
    }

    private struct State {
        var work: [Int: Double] = [:]
        var sent: Double
        var cloudSent: Double
    }

    /// The unit of the work.
    package let unit: Unit
    private let multiple: Double
    private let cloudPerJob: Double?
    private let hourly: CloudAllowance?
    private let attempt: Int?
    private let state: Mutex<State>

    /// Creates a budget for the job's `attempt`; `previous` is what its earlier attempts sent (ignored when it comes
    /// from this attempt or a later one, that is from before a hand retry).
    package init(
        unit: Unit, multiple: Double, cloudPerJob: Double? = nil, hourly: CloudAllowance? = nil,
        previous: Spend? = nil, attempt: Int? = nil
    ) {
        self.unit = unit
        self.multiple = multiple
        self.cloudPerJob = cloudPerJob
        self.hourly = hourly
        self.attempt = attempt
        var carried = previous?.unit == unit ? previous : nil
        if let attempt, let sentIn = carried?.attempt, sentIn >= attempt {
            carried = nil
        }
        self.state = Mutex(State(sent: carried?.sent ?? 0, cloudSent: carried?.cloudSent ?? 0))
    }

    /// Records that the job holds `work` in its part `part` (a chunk's seconds by its index; a text's characters as
    /// part 0). Holding one part again replaces it, so a retried attempt's chunks do not grow the allowance.
    package func hold(_ work: Double, part: Int) {
        self.state.withLock { $0.work[part] = max(work, 0) }
    }

    /// Whether an attempt sending `work` to a provider (billing or not) may go; a `send` is counted at once.
    package func decide(_ work: Double, cloud: Bool) -> Decision {
        self.state.withLock { state -> Decision in
            let allowed = state.work.values.reduce(0, +) * self.multiple
            // A thousandth of slack: the same seconds computed two ways must not stop a job.
            guard state.sent + work <= allowed * 1.001 else {
                return .stop(
                    "the job's provider budget is spent: \(Self.amount(state.sent, self.unit)) sent of "
                        + "\(Self.amount(allowed, self.unit)) allowed (\(Self.amount(self.multiple)) times its "
                        + "\(self.unit == .audioSeconds ? "audio" : "text")), retries and fallbacks included")
            }
            if cloud {
                if let cap = self.cloudPerJob, state.cloudSent + work > cap {
                    return .skip("the job's cloud budget of \(Self.amount(cap, self.unit)) is spent")
                }
                if let hourly = self.hourly, !hourly.take(work) {
                    return .skip(
                        "the worker's cloud budget of \(Self.amount(hourly.perHour, self.unit)) per hour is spent")
                }
                state.cloudSent += work
            }
            state.sent += work
            return .send
        }
    }

    /// Gives back an attempt that `decide` counted but that sent nothing (the connection was refused, the upload
    /// could not be encoded): only what reaches a provider is spent.
    package func refund(_ work: Double, cloud: Bool) {
        self.state.withLock { state in
            state.sent = max(state.sent - work, 0)
            if cloud {
                state.cloudSent = max(state.cloudSent - work, 0)
            }
        }
        if cloud {
            self.hourly?.giveBack(work)
        }
    }

    /// What the job was allowed and has sent so far.
    package var spend: Spend {
        self.state.withLock { state in
            Spend(
                unit: self.unit, allowed: state.work.values.reduce(0, +) * self.multiple, sent: state.sent,
                cloudSent: state.cloudSent, cloudAllowed: self.cloudPerJob, attempt: self.attempt)
        }
    }

    /// Whether a provider at `apiBase` bills: one with no base of its own (the vendor's default endpoint) or one on
    /// a public host. Loopback, private and link-local addresses and single-label or `.local` / `.internal` / `.lan`
    /// names (containers, the LAN) are local. `cloud = true|false` on a provider overrides this.
    package static func isCloud(apiBase: URL?) -> Bool {
        guard let host = apiBase?.host?.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
            !host.isEmpty
        else { return true }
        if host == "localhost" || !host.contains(".") && !host.contains(":") { return false }
        for suffix in [".localhost", ".local", ".internal", ".lan", ".home.arpa"] where host.hasSuffix(suffix) {
            return false
        }
        let octets = host.split(separator: ".").compactMap { UInt8($0) }
        if octets.count == 4 && host.split(separator: ".").count == 4 {
            switch (octets[0], octets[1]) {
            case (127, _), (10, _), (192, 168), (169, 254), (0, _): return false
            case (172, let second) where (16...31).contains(second): return false
            case (100, let second) where (64...127).contains(second): return false
            default: return true
            }
        }
        if host.contains(":") {
            return !(host == "::1" || host.hasPrefix("fc") || host.hasPrefix("fd") || host.hasPrefix("fe80:"))
        }
        return true
    }

    private static func amount(_ value: Double, _ unit: Unit? = nil) -> String {
        let number = value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
        switch unit {
        case .audioSeconds?: return number + " s"
        case .characters?: return number + " characters"
        case nil: return number
        }
    }
}

/// The worker's hourly allowance for billing providers, shared by every job: at most `perHour` sent within any
/// hour (a sliding window).
package final class CloudAllowance: Sendable {
    /// The most sent within one hour.
    package let perHour: Double
    private let now: @Sendable () -> Date
    private let sent = Mutex<[(at: Date, amount: Double)]>([])

    /// Creates an allowance; `now` is the clock (a test passes its own).
    package init(perHour: Double, now: @escaping @Sendable () -> Date = { Date() }) {
        self.perHour = perHour
        self.now = now
    }

    /// Takes `amount` if the last hour has room for it.
    package func take(_ amount: Double) -> Bool {
        let now = self.now()
        return self.sent.withLock { sent -> Bool in
            sent.removeAll { now.timeIntervalSince($0.at) >= 3600 }
            guard sent.reduce(0, { $0 + $1.amount }) + amount <= self.perHour else { return false }
            sent.append((now, amount))
            return true
        }
    }

    /// Gives back the latest `amount` taken (an attempt that sent nothing).
    package func giveBack(_ amount: Double) {
        self.sent.withLock { sent in
            if let index = sent.lastIndex(where: { $0.amount == amount }) {
                sent.remove(at: index)
            }
        }
    }

    /// What was sent within the last hour.
    package var spentInLastHour: Double {
        let now = self.now()
        return self.sent.withLock { sent in
            sent.filter { now.timeIntervalSince($0.at) < 3600 }.reduce(0) { $0 + $1.amount }
        }
    }
}
