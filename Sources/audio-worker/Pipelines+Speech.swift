import PipelineCore

extension Pipelines {
    /// A speech pipeline for `function` (default: the configured one).
    func speech(function: String? = nil, voice: String? = nil, sampleRate: Int? = nil, speed: Double? = nil) throws
        -> SpeechPipeline
    {
        let settings = self.configuration.worker
        let resolved = try self.configuration.resolver.resolve(function ?? settings.speech.function, as: .speech)
        let rate = sampleRate ?? settings.speech.sampleRate
        return SpeechPipeline(
            synthesizer: self.gateway.speechChain(for: resolved, decoder: self.decoder, sampleRate: rate),
            encoder: self.encoder,
            settings: SpeechPipeline.Settings(
                budget: resolved.maxInputCharacters(default: 4096), concurrency: settings.speech.concurrency,
                sampleRate: rate, voice: voice ?? settings.speech.voice, speed: speed ?? settings.speech.speed,
                maxTextCharacters: settings.speech.maxTextCharacters))
    }
}
