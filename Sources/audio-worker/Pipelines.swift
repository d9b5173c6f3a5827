import AudioMedia
import CurlHTTP
import Foundation
import PipelineCore

/// The composition root's choice of concrete types: FFmpeg for media, libcurl for HTTP, one gateway (and so
/// one circuit breaker) per process, and pipelines built from the loaded configuration.
struct Pipelines: Sendable {
    let configuration: Configuration
    let decoder: any AudioDecoding = FFmpegAudioDecoder()
    let encoder: any AudioEncoding = FFmpegAudioEncoder()
    let gateway: AudioGateway

    init(configuration: Configuration, metrics: Metrics? = nil) {
        self.configuration = configuration
        self.gateway = AudioGateway(
            settings: configuration.worker.gateway, http: CurlHTTPClient(), encoder: self.encoder, metrics: metrics)
    }

    /// A transcription pipeline for `function` (default: the configured one).
    func transcription(function: String? = nil, language: String? = nil, prompt: String? = nil, concurrency: Int? = nil)
        throws -> TranscriptionPipeline
    {
        let settings = self.configuration.worker
        let resolved = try self.configuration.resolver.resolve(
            function ?? settings.transcription.function, as: .transcription)
        var chunking = Chunker.Settings(sampleRate: settings.media.sampleRate)
        chunking.windowSeconds = resolved.maxChunkSeconds(default: settings.transcription.windowSeconds)
        // Within the window, which a provider's limit may have lowered: the chunker keeps it there.
        chunking.unpausedWindowSeconds = settings.transcription.unpausedWindowSeconds
        chunking.keptPauseSeconds = settings.transcription.keptPauseSeconds
        return TranscriptionPipeline(
            decoder: self.decoder, transcriber: self.gateway.transcriptionChain(for: resolved),
            settings: TranscriptionPipeline.Settings(
                chunking: chunking, concurrency: concurrency ?? settings.transcription.concurrency,
                language: language ?? settings.transcription.language, carryPrompt: settings.transcription.carryPrompt,
                promptMaxCharacters: settings.transcription.promptMaxCharacters, limits: settings.media.limits,
                initialPrompt: prompt))
    }
}
