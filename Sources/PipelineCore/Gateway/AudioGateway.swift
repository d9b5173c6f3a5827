/// Builds fallback chains of real clients for resolved audio functions.
///
/// One per process: it owns the circuit breaker every chain shares.
package struct AudioGateway: Sendable {
    private let http: any HTTPClient
    private let encoder: any AudioEncoding
    private let breaker: CircuitBreaker
    private let limiter: ProviderLimiter
    private let clock: any MonotonicClock
    private let random: RandomSource
    private let maxRetryAfter: Duration
    private let metrics: Metrics?

    /// Creates a gateway from its settings (`[gateway]` in the worker's file); attempts are counted in `metrics`.
    package init(
        settings: WorkerConfig.Gateway, http: any HTTPClient, encoder: any AudioEncoding,
        clock: any MonotonicClock = SystemClock(), metrics: Metrics? = nil
    ) {
        self.metrics = metrics
        self.http = http
        self.encoder = encoder
        self.clock = clock
        self.breaker = CircuitBreaker(
            failureThreshold: settings.circuitFailures, coolDown: settings.circuitCoolDown, clock: clock)
        self.limiter = ProviderLimiter()
        self.random = RandomSource(seed: settings.seed)
        self.maxRetryAfter = settings.maxRetryAfter
    }

    /// A speech-to-text chain for a function resolved as `.transcription`.
    package func transcriptionChain(for function: ResolvedFunction) -> FallbackChain<any SpeechToText> {
        self.chain(for: function) { provider -> (any SpeechToText)? in
            guard let endpoint = provider.endpoint else { return nil }
            return OpenAITranscriptionClient(
                endpoint: endpoint, modelName: provider.modelName, apiKey: provider.apiKey,
                settings: provider.settings, timeout: provider.timeout, http: self.http, encoder: self.encoder)
        }
    }

    /// A text-to-speech chain for a function resolved as `.speech`, whose replies are decoded with `decoder`
    /// to mono at `sampleRate` (a reply that does not decode counts as that provider's failure).
    package func speechChain(
        for function: ResolvedFunction, decoder: any AudioDecoding, sampleRate: Int
    ) -> FallbackChain<any TextToSpeech> {
        self.chain(for: function) { provider -> (any TextToSpeech)? in
            guard let endpoint = provider.endpoint else { return nil }
            let client: any TextToSpeech
            if provider.type == "elevenlabs" {
                client = ElevenLabsSpeechClient(
                    apiBase: endpoint, modelName: provider.modelName ?? "eleven_flash_v2_5", apiKey: provider.apiKey,
                    settings: provider.settings, timeout: provider.timeout, http: self.http)
            } else {
                client = OpenAISpeechClient(
                    endpoint: endpoint, modelName: provider.modelName ?? "tts-1", apiKey: provider.apiKey,
                    settings: provider.settings, timeout: provider.timeout, http: self.http)
            }
            return DecodingSpeechClient(client, decoder: decoder, sampleRate: sampleRate)
        }
    }

    private func chain<Client: Sendable>(
        for function: ResolvedFunction, makeClient: (ResolvedProvider) -> Client?
    ) -> FallbackChain<Client> {
        func route(_ variant: ResolvedVariant) -> RouteVariant<Client> {
            RouteVariant(
                name: variant.name, retries: variant.retries, timeout: variant.timeout,
                providers: variant.providers.map { provider in
                    let client = provider.skipReason == nil ? makeClient(provider) : nil
                    return RouteProvider(
                        model: provider.model, name: provider.name, client: client,
                        skipReason: provider.skipReason ?? (client == nil ? "no endpoint" : nil),
                        maxConcurrency: provider.settings.maxConcurrency ?? AudioProviderSettings.defaultMaxConcurrency,
                        isCloud: provider.settings.cloud ?? ProviderBudget.isCloud(apiBase: provider.apiBase))
                })
        }
        let functionRoute = FunctionRoute<Client>(
            function: function.name, candidates: function.candidates.map { (route($0.variant), $0.weight) },
            fallbacks: function.fallbacks.map(route), extras: function.extras.map { (route($0.variant), $0.position) })
        return FallbackChain(
            route: functionRoute, breaker: self.breaker, limiter: self.limiter, clock: self.clock,
            random: self.random, maxRetryAfter: self.maxRetryAfter, metrics: self.metrics)
    }

    /// Records each provider's adaptive concurrency limit, requests in flight and requests waiting, as gauges.
    package func recordConcurrency(in metrics: Metrics) {
        for (key, provider) in self.limiter.snapshot {
            metrics.set(
                "audio_worker_provider_concurrency_limit", ["provider": key], to: provider.limit.rounded(.down),
                help: "Each provider's adaptive concurrency limit (at most its max_concurrency).")
            metrics.set(
                "audio_worker_provider_in_flight", ["provider": key], to: Double(provider.inFlight),
                help: "Requests sent to each provider and not yet answered.")
            metrics.set(
                "audio_worker_provider_waiting", ["provider": key], to: Double(provider.waiting),
                help: "Requests waiting in the worker for a slot of each provider.")
        }
    }

    /// Records each provider circuit's state as a gauge: 0 closed, 1 half-open, 2 open.
    package func recordCircuits(in metrics: Metrics) {
        let now = self.clock.now
        for (key, state) in self.breaker.snapshot {
            let value: Double
            switch state {
            case .closed: value = 0
            case .halfOpen: value = 1
            case .open(let until): value = now < until ? 2 : 1
            }
            metrics.set(
                "audio_worker_circuit_state", ["provider": key], to: value,
                help: "Each provider's circuit breaker: 0 closed, 1 half-open (a trial may go), 2 open (skipped).")
        }
    }
}
