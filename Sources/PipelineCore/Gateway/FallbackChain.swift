/// Runs a request through a function's route with TensorZero's order and the worker's fallback policy.
///
/// For each variant (candidates by weight, then fallbacks, extras at their places): up to `num_retries + 1` rounds,
/// each trying the model's providers in `routing` order. Between rounds it waits an exponential backoff with
/// jitter, capped at the variant's `max_delay_s`, and at least the longest `Retry-After` a provider sent.
/// A provider that answered 401/403/404/413 or a quota error is not tried again for this request; one whose
/// circuit is open is skipped; a provider that rejects the input stops the chain. Every attempt is recorded.
///
/// A provider's request waits for a slot of its ``ProviderLimiter`` first; that wait is not counted against the
/// variant's timeout (nor the request's, which starts when it is sent).
package struct FallbackChain<Client: Sendable>: Sendable {
    /// The resolved route.
    package let route: FunctionRoute<Client>
    private let breaker: CircuitBreaker
    private let limiter: ProviderLimiter
    private let clock: any MonotonicClock
    private let random: RandomSource
    private let maxRetryAfter: Duration
    private let metrics: Metrics?

    /// Creates a chain; `breaker` and `limiter` are shared by every chain of the process; attempts are counted in
    /// `metrics`.
    package init(
        route: FunctionRoute<Client>, breaker: CircuitBreaker, limiter: ProviderLimiter = ProviderLimiter(),
        clock: any MonotonicClock, random: RandomSource, maxRetryAfter: Duration = .seconds(60),
        metrics: Metrics? = nil
    ) {
        self.route = route
        self.breaker = breaker
        self.limiter = limiter
        self.clock = clock
        self.random = random
        self.maxRetryAfter = maxRetryAfter
        self.metrics = metrics
    }

    /// Calls `operation` on providers until one succeeds; returns its value, who served it and every attempt.
    /// `work` is the request's size (seconds of audio, characters of text), by which latencies are compared.
    ///
    /// - Throws: ``GatewayError`` when every provider failed or one rejected the input; `CancellationError`.
    package func run<Value: Sendable>(
        audioSeconds: Double?, work: Double? = nil,
        _ operation: @Sendable (Client) async throws -> (value: Value, bytesSent: Int)
    ) async throws -> (value: Value, servedBy: ServedBy, attempts: [GatewayAttempt]) {
        var attempts: [GatewayAttempt] = []
        func record(
            _ variant: RouteVariant<Client>, _ provider: RouteProvider<Client>, _ outcome: GatewayAttempt.Outcome,
            status: Int? = nil, since start: Duration? = nil, waited: Duration = .zero, bytes: Int = 0,
            error: String? = nil
        ) {
            let latency = start.map { (self.clock.now - $0).seconds * 1000 } ?? 0
            let attempt = GatewayAttempt(
                function: self.route.function, variant: variant.name, model: provider.model,
                provider: provider.name, outcome: outcome, status: status, latencyMilliseconds: Int(latency),
                waitMilliseconds: waited > .zero ? Int(waited.seconds * 1000) : nil, bytesSent: bytes,
                audioSeconds: audioSeconds, error: error)
            attempts.append(attempt)
            self.count(attempt, measured: start != nil)
        }

        // What one attempt spends of a job's budget.
        let spend = work ?? audioSeconds ?? 0
        var anyCalled = false
        for variant in self.route.ordered(using: self.random) {
            let variantStart = self.clock.now
            // Time spent waiting for provider slots: not the variant's time.
            var waitedForSlots: Duration = .zero
            var excluded = Set<String>()
            for provider in variant.providers where provider.client == nil {
                record(variant, provider, .skipped, error: provider.skipReason ?? "unavailable")
                excluded.insert(provider.key)
            }
            var retryAfter: Duration = .zero
            for round in 0...variant.retries.numRetries {
                if round > 0 {
                    guard variant.providers.contains(where: { !excluded.contains($0.key) }) else { break }
                    let delay = max(self.backoff(round: round, cap: variant.retries.maxDelay), retryAfter)
                    retryAfter = .zero
                    if let timeout = variant.timeout, self.clock.now - variantStart - waitedForSlots + delay >= timeout
                    {
                        break
                    }
                    try await self.clock.sleep(for: delay)
                }
                for provider in variant.providers where !excluded.contains(provider.key) {
                    guard let client = provider.client else { continue }
                    // An open circuit is skipped without queueing for a slot.
                    if case .open(let until) = self.breaker.state(of: provider.key), self.clock.now < until {
                        record(variant, provider, .skipped, error: "circuit open after repeated failures")
                        continue
                    }
                    // Then the slot: the wait may be long, and the circuit's state and the variant's time left are
                    // what they are when the request can go.
                    let waited = try await self.limiter.acquire(
                        provider.key, ceiling: provider.maxConcurrency, clock: self.clock)
                    waitedForSlots += waited
                    if let timeout = variant.timeout, self.clock.now - variantStart - waitedForSlots >= timeout {
                        self.limiter.release(provider.key, .neutral)
                        record(variant, provider, .skipped, error: "the variant's \(timeout.formattedSeconds) ran out")
                        continue
                    }
                    guard self.breaker.admit(provider.key) else {
                        self.limiter.release(provider.key, .neutral)
                        record(variant, provider, .skipped, error: "circuit open after repeated failures")
                        continue
                    }
                    // Last, the job's budget: what it has left is what it is when the request goes.
                    if let budget = ProviderBudget.current {
                        let decision = budget.decide(spend, cloud: provider.isCloud)
                        if decision != .send {
                            self.limiter.release(provider.key, .neutral)
                            self.breaker.releaseTrial(provider.key)
                        }
                        switch decision {
                        case .send:
                            break
                        case .skip(let reason):
                            record(variant, provider, .skipped, error: reason)
                            excluded.insert(provider.key)
                            continue
                        case .stop(let reason):
                            record(variant, provider, .skipped, error: reason)
                            self.metrics?.increment(
                                "audio_worker_budget_stops_total", ["function": self.route.function],
                                help: "Jobs stopped because their provider budget was spent.")
                            throw GatewayError(
                                function: self.route.function, reason: .budgetSpent(reason), attempts: attempts)
                        }
                        self.metrics?.increment(
                            "audio_worker_provider_work_sent_total",
                            [
                                "function": self.route.function, "unit": budget.unit.rawValue,
                                "cloud": provider.isCloud ? "true" : "false",
                            ], by: spend,
                            help: "Work sent to providers under a job budget (seconds of audio, characters), failed "
                                + "attempts included.")
                    }
                    anyCalled = true
                    let start = self.clock.now
                    do {
                        let (value, bytes) = try await operation(client)
                        self.limiter.release(provider.key, .success(latency: self.clock.now - start, work: work))
                        self.breaker.recordSuccess(provider.key)
                        record(variant, provider, .ok, status: 200, since: start, waited: waited, bytes: bytes)
                        let servedBy = ServedBy(
                            function: self.route.function, variant: variant.name, model: provider.model,
                            provider: provider.name)
                        if attempts.count > 1 {
                            self.metrics?.increment(
                                "audio_worker_fallbacks_total", ["function": self.route.function],
                                help: "Requests served by a provider other than the first one tried.")
                        }
                        return (value, servedBy, attempts)
                    } catch let failure as ProviderFailure {
                        // Nothing reached the provider: refused or broken connections, requests never built.
                        if failure.bytesSent == 0 || [.connection, .misconfigured, .tooLarge].contains(failure.kind) {
                            ProviderBudget.current?.refund(spend, cloud: provider.isCloud)
                        }
                        self.limiter.release(provider.key, failure.disposition == .retry ? .overload : .neutral)
                        record(
                            variant, provider, .failed, status: failure.status, since: start, waited: waited,
                            bytes: failure.bytesSent, error: failure.message)
                        switch failure.disposition {
                        case .fatal:
                            self.breaker.recordSuccess(provider.key)
                            throw GatewayError(
                                function: self.route.function, reason: .rejected(failure.message), attempts: attempts)
                        case .nextProvider:
                            self.breaker.releaseTrial(provider.key)
                            excluded.insert(provider.key)
                        case .retry:
                            self.breaker.recordFailure(provider.key)
                            if let asked = failure.retryAfter {
                                if asked > self.maxRetryAfter {
                                    excluded.insert(provider.key)
                                } else {
                                    retryAfter = max(retryAfter, asked)
                                }
                            }
                        }
                    } catch is CancellationError {
                        self.limiter.release(provider.key, .neutral)
                        // A half-open circuit's trial that never finished must not keep the circuit shut.
                        self.breaker.releaseTrial(provider.key)
                        throw CancellationError()
                    } catch {
                        // A local failure (encoding the upload, a temporary file): this provider cannot be used now.
                        ProviderBudget.current?.refund(spend, cloud: provider.isCloud)
                        self.limiter.release(provider.key, .neutral)
                        self.breaker.releaseTrial(provider.key)
                        record(variant, provider, .failed, since: start, waited: waited, error: "\(error)")
                        excluded.insert(provider.key)
                    }
                }
            }
        }
        throw GatewayError(
            function: self.route.function, reason: anyCalled ? .exhausted : .noProviders, attempts: attempts)
    }

    private func count(_ attempt: GatewayAttempt, measured: Bool) {
        guard let metrics = self.metrics else { return }
        let labels = [
            "function": attempt.function, "provider": "\(attempt.model)/\(attempt.provider)",
            "outcome": attempt.outcome.rawValue,
        ]
        metrics.increment(
            "audio_worker_provider_attempts_total", labels, help: "Provider requests (and skips), by outcome.")
        if measured {
            metrics.observe(
                "audio_worker_provider_latency_seconds",
                ["function": attempt.function, "provider": labels["provider"]!],
                Double(attempt.latencyMilliseconds) / 1000, buckets: latencyBuckets,
                help: "Time from sending a provider request to its reply or failure.")
        }
        if attempt.outcome == .ok, let seconds = attempt.audioSeconds {
            metrics.increment(
                "audio_worker_provider_audio_seconds_total",
                ["function": attempt.function, "provider": labels["provider"]!],
                by: seconds, help: "Seconds of audio transcribed by each provider.")
        }
    }

    /// Truncated exponential backoff with jitter: 1 s × 2^(round−1), capped, scaled by a random 50–100 %.
    private func backoff(round: Int, cap: Duration) -> Duration {
        let base = min(pow2(round - 1), cap.seconds)
        return .milliseconds(Int64(base * (0.5 + 0.5 * self.random.unit()) * 1000))
    }
}

private func pow2(_ exponent: Int) -> Double {
    Double(1 << min(max(exponent, 0), 30))
}

extension FallbackChain: SpeechToText where Client == any SpeechToText {
    package func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
        let (result, servedBy, attempts) = try await self.run(audioSeconds: request.duration, work: request.duration) {
            client in
            let result = try await client.transcribe(request)
            return (result, result.bytesSent)
        }
        var served = result
        served.servedBy = servedBy
        served.attempts = attempts
        for index in served.transcript.segments.indices {
            served.transcript.segments[index].provider = servedBy.label
        }
        return served
    }
}

extension FallbackChain: TextToSpeech where Client == any TextToSpeech {
    package func synthesize(_ request: SpeechRequest) async throws -> SpeechResult {
        let (result, servedBy, attempts) = try await self.run(audioSeconds: nil, work: Double(request.text.count)) {
            client in
            let result = try await client.synthesize(request)
            return (result, result.bytesSent)
        }
        var served = result
        served.servedBy = servedBy
        served.attempts = attempts
        return served
    }
}
