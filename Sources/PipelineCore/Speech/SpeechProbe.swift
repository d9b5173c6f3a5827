import Foundation

/// Whether speech can be had now, as `/healthz` tells flute-gateway (`model_loaded`, which it requires of a local
/// voice before using it): whether a one-word synthesis sent to the speech function's local providers was last
/// answered, within `timeout`. The answer is cached; a stale one is returned at once while a new probe runs, so
/// health stays fast, and one older than three intervals (probes that hang) counts as no answer. Cloud providers
/// are never probed: a health check must not cost money. The composition root gives the probe a gateway of its own,
/// so it neither queues for the real jobs' provider slots nor opens their circuits.
package actor SpeechProbe {
    private let synthesizer: (any TextToSpeech)?
    private let interval: Duration
    private let timeout: Duration
    private var last: (at: ContinuousClock.Instant, ready: Bool)?
    private var probing: Task<Void, Never>?
    /// The last answer, readable without the actor (``cachedReady()``), and whether a refresh was asked for.
    private let published = LockedValue(Published())

    private struct Published: Sendable {
        var answer: (at: ContinuousClock.Instant, ready: Bool)?
        var refreshAsked = false
    }

    private let now: @Sendable () -> ContinuousClock.Instant

    /// Creates a probe of `synthesizer` (nil when the function has no local provider: never ready), repeated when
    /// its last answer is older than `interval`; call ``ready()`` once to start the first. `now` ages the answers
    /// (a test passes a clock it moves).
    package init(
        synthesizer: (any TextToSpeech)?, interval: Duration = .seconds(30), timeout: Duration = .seconds(10),
        now: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.synthesizer = synthesizer
        self.interval = interval
        self.timeout = timeout
        self.now = now
    }

    /// The last probe's answer (false before one has come back, or when it is three intervals old), starting a new
    /// probe when it is stale.
    package func ready() -> Bool {
        let now = self.now()
        if self.last.map({ now - $0.at >= self.interval }) ?? true, self.probing == nil,
            let synthesizer = self.synthesizer
        {
            let timeout = self.timeout
            self.probing = Task {
                let answered = await withTaskGroup(of: Bool.self) { group in
                    group.addTask { (try? await synthesizer.synthesize(SpeechRequest(text: "Ready."))) != nil }
                    group.addTask {
                        try? await sleepCancellably(for: timeout)
                        return false
                    }
                    let first = await group.next() ?? false
                    group.cancelAll()
                    return first
                }
                self.record(answered)
            }
        }
        guard let last = self.last, now - last.at < self.interval * 3 else { return false }
        return last.ready
    }

    /// The answer ``ready()`` would give, read without waiting for the actor, so that the HTTP server's own thread
    /// can answer `/healthz` however busy the worker's tasks are; a stale answer asks the actor for a new probe.
    package nonisolated func cachedReady() -> Bool {
        let now = self.now()
        let (answer, ask) = self.published.withLock { published in
            let stale = published.answer.map { now - $0.at >= self.interval } ?? true
            let ask = stale && !published.refreshAsked
            if ask { published.refreshAsked = true }
            return (published.answer, ask)
        }
        if ask {
            Task { _ = await self.ready() }
        }
        guard let answer, now - answer.at < self.interval * 3 else { return false }
        return answer.ready
    }

    /// Waits for the probe in flight, if any (tests, and `serve` at start).
    package func settle() async {
        await self.probing?.value
    }

    private func record(_ ready: Bool) {
        let answer = (at: self.now(), ready: ready)
        self.last = answer
        self.probing = nil
        self.published.withLock { $0 = Published(answer: answer, refreshAsked: false) }
    }
}

extension ResolvedFunction {
    /// This function with only its local providers (those that do not bill), each variant tried once: what a
    /// health probe may call.
    package var localOnly: ResolvedFunction {
        func local(_ variant: ResolvedVariant) -> ResolvedVariant? {
            var variant = variant
            variant.providers = variant.providers.filter {
                $0.skipReason == nil && !($0.settings.cloud ?? ProviderBudget.isCloud(apiBase: $0.apiBase))
            }
            variant.retries = RetrySettings(numRetries: 0, maxDelay: variant.retries.maxDelay)
            return variant.providers.isEmpty ? nil : variant
        }
        var function = self
        function.candidates = self.candidates.compactMap { entry in local(entry.variant).map { ($0, entry.weight) } }
        function.fallbacks = self.fallbacks.compactMap(local)
        function.extras = self.extras.compactMap { entry in local(entry.variant).map { ($0, entry.position) } }
        return function
    }
}
