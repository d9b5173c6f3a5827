import Foundation
import PipelineCore
import Synchronization

/// A decoder that serves fixed samples in one-second blocks.
struct ArrayDecoder: AudioDecoding {
    let samples: [Float]
    let sampleRate = 16_000

    func open(_ file: URL, options: DecodeOptions) async throws -> DecodedAudio {
        let blocks = LockedQueue(
            stride(from: 0, to: self.samples.count, by: self.sampleRate).map { start in
                AudioBlock(
                    samples: Array(self.samples[start..<min(start + self.sampleRate, self.samples.count)]),
                    startSample: start, sampleRate: self.sampleRate)
            })
        let total = self.samples.count
        let source = SourceInfo(
            input: file.path, format: "test", streamIndex: 0, codec: "pcm", sampleRate: self.sampleRate, channels: 1,
            estimatedDuration: Double(total) / 16_000)
        return DecodedAudio(
            source: source, sampleRate: self.sampleRate, next: { blocks.popFirst() },
            summary: {
                var summary = DecodeSummary()
                summary.samples = total
                return summary
            })
    }

    func probe(_ file: URL, limits: MediaLimits) async throws -> MediaInfo {
        MediaInfo(format: "test", duration: nil, size: 0, streams: [])
    }
}

/// A transcriber that names each chunk by its length, counts calls and the most requests in flight at once,
/// and can fail for chunks longer than a given duration.
final class RecordingTranscriber: SpeechToText {
    private let state = Mutex<(calls: Int, inFlight: Int, maxInFlight: Int)>((0, 0, 0))
    let failWhenLongerThan: Double?

    init(failWhenLongerThan: Double? = nil) {
        self.failWhenLongerThan = failWhenLongerThan
    }

    var calls: Int { self.state.withLock { $0.calls } }
    var maxInFlight: Int { self.state.withLock { $0.maxInFlight } }

    func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
        self.state.withLock {
            $0.calls += 1
            $0.inFlight += 1
            $0.maxInFlight = max($0.maxInFlight, $0.inFlight)
        }
        defer { self.state.withLock { $0.inFlight -= 1 } }
        // Yield a few times so other chunk tasks get to start while this one is "in flight".
        for _ in 0..<20 {
            await Task.yield()
        }
        if let limit = self.failWhenLongerThan, request.duration > limit {
            throw GatewayError(
                function: "f", reason: .exhausted,
                attempts: [
                    GatewayAttempt(
                        function: "f", variant: "v", model: "m", provider: "p", outcome: .failed, status: 503,
                        error: "down")
                ])
        }
        let text = String(format: "chunk of %.1f seconds.", request.duration)
        return TranscriptionResult(
            transcript: Transcript(
                text: text, segments: [TranscriptSegment(id: 0, start: 0.1, end: request.duration - 0.1, text: text)]),
            servedBy: ServedBy(function: "f", variant: "v", model: "m", provider: "p"))
    }
}

/// A transcriber that detects `detected` when no language is asked for (and answers in the asked one otherwise),
/// hears nothing in its first `silentCalls` calls, and records the language of every request and the most requests
/// in flight at once, before and after the first request that named a language.
final class LanguageDetectingTranscriber: SpeechToText {
    private struct State {
        var calls = 0
        var inFlight = 0
        var requested: [String?] = []
        var maxInFlightUnpinned = 0
        var maxInFlightPinned = 0
    }

    private let state = Mutex(State())
    let detected: String
    let silentCalls: Int
    /// What the first `silentCalls` calls hear: nothing, or a phrase Whisper hallucinates in music.
    let quietText: String

    init(detected: String, silentCalls: Int = 0, quietText: String = "") {
        self.detected = detected
        self.silentCalls = silentCalls
        self.quietText = quietText
    }

    var requested: [String?] { self.state.withLock { $0.requested } }
    var maxInFlightUnpinned: Int { self.state.withLock { $0.maxInFlightUnpinned } }
    var maxInFlightPinned: Int { self.state.withLock { $0.maxInFlightPinned } }

    func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
        let call = self.state.withLock { state -> Int in
            state.calls += 1
            state.inFlight += 1
            state.requested.append(request.language)
            if request.language == nil {
                state.maxInFlightUnpinned = max(state.maxInFlightUnpinned, state.inFlight)
            } else {
                state.maxInFlightPinned = max(state.maxInFlightPinned, state.inFlight)
            }
            return state.calls
        }
        defer { self.state.withLock { $0.inFlight -= 1 } }
        for _ in 0..<20 {
            await Task.yield()
        }
        let text = call <= self.silentCalls ? self.quietText : "Ein Satz."
        return TranscriptionResult(
            transcript: Transcript(
                text: text, language: request.language ?? self.detected,
                segments: text.isEmpty ? [] : [TranscriptSegment(id: 0, start: 0.1, end: 1, text: text)]),
            servedBy: ServedBy(function: "f", variant: "v", model: "m", provider: "p"))
    }
}
