import Synchronization

/// How many requests each provider has in flight: at most its configured ceiling (`max_concurrency`), and at most an
/// adaptive limit under it that follows the provider's health, additive increase and multiplicative decrease.
///
/// - A request that succeeds in its usual time raises the limit by `1 / limit` (about one per round of requests),
///   up to the ceiling.
/// - A request that fails in a way that says "too much" (a timeout, 429, 5xx, a reset) halves it.
/// - A request that succeeds but took more than `latencyTolerance` times the provider's usual time per unit of work
///   (seconds of audio, characters of text) while others were in flight lowers it by a fifth: the server is
///   queueing what the worker sends, so the worker should hold the queue instead.
///
/// A request over the limit waits here, first come first served, and the wait is not the provider's time: its
/// timeout starts when it is sent. So a local server that works one request at a time is queued for, and not timed
/// out and spilled to a paid fallback. One limiter per process, shared by every chain, like the circuit breaker.
package final class ProviderLimiter: Sendable {
    /// What a finished request says about the provider's load.
    package enum Signal: Sendable, Equatable {
        /// It answered; `latency` for `work` units (nil when the request has no size).
        case success(latency: Duration, work: Double?)
        /// It failed in a way that load causes or worsens.
        case overload
        /// It failed for its own reasons (bad input, an auth error): no news about load.
        case neutral
    }

    /// One provider's state, for metrics and tests.
    package struct Snapshot: Sendable, Equatable {
        /// The configured ceiling.
        package var ceiling: Int
        /// The adaptive limit, 1 ... ceiling.
        package var limit: Double
        /// Requests sent and not yet finished.
        package var inFlight: Int
        /// Requests waiting for a slot.
        package var waiting: Int
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Provider {
        var ceiling: Int
        var limit: Double
        var inFlight = 0
        var waiters: [Waiter] = []
        /// The usual seconds per unit of work: a minimum that drifts up slowly, so it follows a server that got
        /// slower for good.
        var usualPerUnit: Double?

        var slots: Int { max(1, min(self.ceiling, Int(self.limit.rounded(.down)))) }
    }

    private struct State {
        var providers: [String: Provider] = [:]
        var nextWaiter: UInt64 = 0
    }

    /// A request that took this many times the usual time per unit counts as queued at the provider.
    package let latencyTolerance: Double
    private let state = Mutex(State())

    /// Creates a limiter with no providers yet.
    package init(latencyTolerance: Double = 2) {
        self.latencyTolerance = latencyTolerance
    }

    /// Waits for a slot of `key` (whose ceiling is `ceiling`), first come first served; returns how long it waited.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while waiting (no slot is then held).
    package func acquire(_ key: String, ceiling: Int, clock: any MonotonicClock) async throws -> Duration {
        let start = clock.now
        let id: UInt64? = self.state.withLock { state in
            var provider = state.providers[key] ?? Provider(ceiling: max(ceiling, 1), limit: Double(max(ceiling, 1)))
            provider.ceiling = max(ceiling, 1)
            provider.limit = min(provider.limit, Double(provider.ceiling))
            defer { state.providers[key] = provider }
            if provider.waiters.isEmpty, provider.inFlight < provider.slots {
                provider.inFlight += 1
                return nil
            }
            state.nextWaiter += 1
            return state.nextWaiter
        }
        guard let id else { return .zero }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // A slot may have come free since the first look: then it is taken now, not waited for.
                let outcome = self.state.withLock { state -> Result<Void, any Error>? in
                    guard !Task.isCancelled else { return .failure(CancellationError()) }
                    // Providers are never removed, and this one was added by the first look.
                    guard var provider = state.providers[key] else {
                        preconditionFailure("no limiter state for \(key)")
                    }
                    defer { state.providers[key] = provider }
                    if provider.waiters.isEmpty, provider.inFlight < provider.slots {
                        provider.inFlight += 1
                        return .success(())
                    }
                    provider.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> Waiter? in
                guard let index = state.providers[key]?.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.providers[key]?.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
        return clock.now - start
    }

    /// Gives back a slot of `key` taken by ``acquire(_:ceiling:clock:)``, with what the request said about load.
    package func release(_ key: String, _ signal: Signal) {
        let woken = self.state.withLock { state -> [Waiter] in
            guard var provider = state.providers[key] else { return [] }
            let othersInFlight = provider.inFlight > 1
            provider.inFlight = max(provider.inFlight - 1, 0)
            switch signal {
            case .overload:
                provider.limit = max(1, provider.limit / 2)
            case .neutral:
                break
            case .success(let latency, let work):
                let perUnit = latency.seconds / max(work ?? 1, 1e-3)
                let usual = provider.usualPerUnit.map { min($0 * 1.02, perUnit) } ?? perUnit
                provider.usualPerUnit = usual
                if othersInFlight, perUnit > usual * self.latencyTolerance {
                    provider.limit = max(1, provider.limit * 0.8)
                } else {
                    provider.limit = min(Double(provider.ceiling), provider.limit + 1 / provider.limit)
                }
            }
            var woken: [Waiter] = []
            while provider.inFlight < provider.slots, !provider.waiters.isEmpty {
                woken.append(provider.waiters.removeFirst())
                provider.inFlight += 1
            }
            state.providers[key] = provider
            return woken
        }
        for waiter in woken {
            waiter.continuation.resume()
        }
    }

    /// Every provider's state.
    package var snapshot: [String: Snapshot] {
        self.state.withLock { state in
            state.providers.mapValues {
                Snapshot(ceiling: $0.ceiling, limit: $0.limit, inFlight: $0.inFlight, waiting: $0.waiters.count)
            }
        }
    }
}
