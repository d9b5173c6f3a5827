import CurlHTTP
import Foundation
import HTTPAPI
import PipelineCore
import SQLiteQueue

extension WorkerEnvironment {
    /// The HTTP API on `listen` (`HOST:PORT`), bound now, so a port in use is an error before anything runs.
    func apiServer(listen: String, logger: Logger, shutdown: ShutdownSignal) throws -> HTTPServer {
        let http = self.configuration.worker.http
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw UsageError("--listen is HOST:PORT, not '\(listen)'")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        }
        let scratch = self.dataDirectory.appendingPathComponent("http-scratch", isDirectory: true)
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        var settings = AudioAPI.Settings()
        switch http.apiKey.resolve(environment: self.configuration.environment) {
        case .success(let key): settings.apiKey = key
        case .failure(let problem):
            // Only the default (AUDIO_WORKER_API_KEY, unset) means "no key": a key the config names but that cannot
            // be read is a mistake to stop on, never a reason to serve without one.
            guard http.apiKey == WorkerConfig.HTTP().apiKey else {
                throw ConfigError(file: self.configuration.workerFile, message: "[http] api key: \(problem.reason)")
            }
            settings.apiKey = nil
        }
        switch http.voiceToken.resolve(environment: self.configuration.environment) {
        case .success(let token): settings.voiceToken = token
        case .failure(let problem):
            guard http.voiceToken == WorkerConfig.HTTP().voiceToken else {
                throw ConfigError(file: self.configuration.workerFile, message: "[http] voice token: \(problem.reason)")
            }
            settings.voiceToken = nil
        }
        let open = [http.openHealth ? "/healthz" : nil, http.openMetrics ? "/metrics" : nil].compactMap { $0 }
        logger.info(
            settings.apiKey == nil
                ? "http api key: none (set AUDIO_WORKER_API_KEY to require one)" : "http api key: required",
            ["open": .string(open.joined(separator: ","))])
        settings.openHealth = http.openHealth
        settings.openMetrics = http.openMetrics
        settings.syncTimeout = http.syncTimeout
        settings.maxWaiting = http.maxWaiting
        settings.maxSpeechCharacters = self.configuration.worker.speech.maxTextCharacters
        // JSON holds the longest speech text even written as \u escapes of surrogate pairs (12 bytes a character).
        settings.maxJSONBytes = max(4 << 20, min(settings.maxSpeechCharacters, 50_000_000) * 12 + (64 << 10))
        let storage = self.configuration.worker.storage
        settings.speechPrefix = storage.speechPrefix + "api/"
        settings.jobDefaults = Self.jobDefaults(self.configuration)
        let queue = self.queue.base
        let metrics = self.metrics
        let gateway = self.pipelines.gateway
        let api = AudioAPI(
            settings: settings,
            dependencies: AudioAPI.Dependencies(
                control: self.control, storage: self.storage, defaultBucket: self.defaultBucket,
                liveAudio: self.liveAudio, encoder: self.pipelines.encoder, metrics: metrics,
                refreshMetrics: {
                    gateway.recordCircuits(in: metrics)
                    gateway.recordConcurrency(in: metrics)
                    if let pending = try? await queue.pendingWork() {
                        metrics.set(
                            "audio_worker_queue_jobs", ["status": "queued"], to: Double(pending.queued),
                            help: "Jobs in the queue now, by status.")
                        metrics.set(
                            "audio_worker_queue_jobs", ["status": "running"], to: Double(pending.running),
                            help: "Jobs in the queue now, by status.")
                    }
                },
                transcriptionFunctions: self.functions(.transcription),
                speechFunctions: self.functions(.speech), scratch: scratch, logger: logger,
                speechProbe: self.speechProbe()))
        return try HTTPServer(
            settings: HTTPServerSettings(
                host: host, port: port, maxBodyBytes: http.maxBodyBytes, headerTimeout: http.headerTimeout,
                bodyTimeout: http.bodyTimeout, idleTimeout: http.idleTimeout, maxConnections: http.maxConnections,
                maxConnectionsPerAddress: http.maxConnectionsPerAddress, threads: http.threads,
                scratchDirectory: scratch),
            responder: api, shutdown: shutdown, logger: logger.with("service", "http"))
    }

    /// A probe of the speech function's local voices for `/healthz` (none when it has no local provider).
    func speechProbe() -> SpeechProbe {
        let function = try? self.configuration.resolver.resolve(self.configuration.worker.speech.function, as: .speech)
        guard let local = function?.localOnly, !local.allProviders.isEmpty else {
            return SpeechProbe(synthesizer: nil)
        }
        // A gateway of its own: the probe neither waits for the jobs' provider slots nor counts in their circuits.
        let gateway = AudioGateway(
            settings: self.configuration.worker.gateway, http: CurlHTTPClient(), encoder: self.pipelines.encoder)
        let chain = gateway.speechChain(
            for: local, decoder: self.pipelines.decoder, sampleRate: self.configuration.worker.speech.sampleRate)
        let probe = SpeechProbe(synthesizer: chain)
        Task { _ = await probe.ready() }  // the first probe, at start
        return probe
    }

    /// The gateway functions for `capability`: the configured one first, then those whose names say they are for
    /// it (the gateway's schema does not record what a function is for).
    func functions(_ capability: ResolvedFunction.Capability) -> [String] {
        let configured =
            capability == .transcription
            ? self.configuration.worker.transcription.function : self.configuration.worker.speech.function
        let hints =
            capability == .transcription ? ["transcri", "stt", "whisper", "asr"] : ["tts", "speech", "voice", "synth"]
        let named =
            (Array(self.configuration.gateway.functions.keys) + Array(self.configuration.worker.extraVariants.keys))
            .filter { name in hints.contains { name.lowercased().contains($0) } }.sorted()
        var seen = Set<String>()
        return ([configured] + named).filter { name in
            guard !seen.contains(name), (try? self.configuration.resolver.resolve(name, as: capability)) != nil
            else { return false }
            seen.insert(name)
            return true
        }
    }
}
