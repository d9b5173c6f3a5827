import Foundation
import PipelineCore
import Synchronization
import Testing

struct TranscriptionPipelineTests {
    /// 150 s of speech-like tone with pauses: five or six chunks.
    static let audio = Signals.make(ChunkerTests.conversation).samples

    private func pipeline(_ transcriber: RecordingTranscriber, samples: [Float] = audio, concurrency: Int = 4)
        -> TranscriptionPipeline
    {
        TranscriptionPipeline(
            decoder: ArrayDecoder(samples: samples), transcriber: transcriber,
            settings: TranscriptionPipeline.Settings(concurrency: concurrency))
    }

    @Test
    func chunksAreTranscribedWithBoundedConcurrencyAndStitchedInOrder() async throws {
        let transcriber = RecordingTranscriber()
        let seen = Mutex<[Int]>([])

        let outcome = try await self.pipeline(transcriber, concurrency: 2).run(URL(fileURLWithPath: "/in.wav")) {
            result, _ in
            seen.withLock { $0.append(result.index) }
        }

        #expect(outcome.chunks.map(\.index) == Array(0..<outcome.chunks.count))
        #expect(transcriber.calls == outcome.chunks.count)
        #expect(transcriber.maxInFlight <= 2)
        #expect(seen.withLock { $0.sorted() } == outcome.chunks.map(\.index))
        let starts = outcome.transcript.segments.map(\.start)
        #expect(starts == starts.sorted())
        #expect(outcome.transcript.segments.count == outcome.chunks.count)
        #expect(abs((outcome.transcript.duration ?? 0) - Double(Self.audio.count) / 16_000) < 0.001)
    }

    @Test
    func withPausesShortenedFewerChunksAreSentAndTheirTimesArePutBack() async throws {
        let transcriber = RecordingTranscriber()
        var settings = TranscriptionPipeline.Settings(concurrency: 2)
        settings.chunking.keptPauseSeconds = 0.2
        let audio = Signals.make(ChunkerTests.readAloud).samples
        let pipeline = TranscriptionPipeline(
            decoder: ArrayDecoder(samples: audio), transcriber: transcriber, settings: settings)
        let plain = try await self.pipeline(RecordingTranscriber(), samples: audio).run(URL(fileURLWithPath: "/in.wav"))

        let outcome = try await pipeline.run(URL(fileURLWithPath: "/in.wav"))

        #expect(outcome.chunks.count < plain.chunks.count)
        #expect(outcome.transcript.segments.count == outcome.chunks.count)
        var stretched = 0
        for (segment, chunk) in zip(outcome.transcript.segments, outcome.chunks) {
            // The transcriber names the seconds it was sent and answers up to 0.1 s before their end.
            let sent = try #require(Double(segment.text.split(separator: " ")[2]))
            #expect(sent <= 30.05)
            #expect(segment.start >= chunk.startSeconds && segment.end <= chunk.endSeconds)
            if segment.end - chunk.startSeconds > sent + 0.2 {
                stretched += 1
            }
        }
        #expect(stretched > 0)
    }

    private func languagePipeline(_ transcriber: LanguageDetectingTranscriber, language: String? = nil)
        -> TranscriptionPipeline
    {
        TranscriptionPipeline(
            decoder: ArrayDecoder(samples: Self.audio), transcriber: transcriber,
            settings: TranscriptionPipeline.Settings(concurrency: 4, language: language))
    }

    @Test
    func withNoLanguageTheFirstChunkDetectsItAloneAndEveryLaterChunkAsksForIt() async throws {
        let transcriber = LanguageDetectingTranscriber(detected: "de")

        let outcome = try await self.languagePipeline(transcriber).run(URL(fileURLWithPath: "/in.wav"))

        #expect(outcome.chunks.count > 2)
        #expect(transcriber.requested == [nil] + Array(repeating: "de", count: outcome.chunks.count - 1))
        #expect(transcriber.maxInFlightUnpinned == 1)
        #expect(transcriber.maxInFlightPinned > 1)
        #expect(outcome.transcript.language == "de")
        #expect(
            outcome.languageDetection == TranscriptionPipeline.LanguageDetection(language: "de", chunk: 0, start: 0))
        let document = TranscriptDocument.assemble(outcome, audioURI: nil, passThrough: nil)
        let json = try JSONValue(encoding: document)
        #expect(
            json["language_detection"]
                == .object(["language": .string("de"), "chunk": .number(0), "start": .number(0)]))
    }

    @Test
    func chunksThatHearNothingLeaveTheLanguageToTheFirstThatHearsSpeech() async throws {
        let transcriber = LanguageDetectingTranscriber(detected: "de", silentCalls: 2)

        let outcome = try await self.languagePipeline(transcriber).run(URL(fileURLWithPath: "/in.wav"))

        #expect(Array(transcriber.requested.prefix(4)) == [nil, nil, nil, "de"])
        #expect(transcriber.maxInFlightUnpinned == 1)
        #expect(outcome.languageDetection?.chunk == 2)
        #expect((outcome.languageDetection?.start ?? 0) > 0)
    }

    @Test
    func aKnownHallucinationDoesNotDecideTheLanguage() async throws {
        let transcriber = LanguageDetectingTranscriber(detected: "de", silentCalls: 1, quietText: "Thank you.")

        let outcome = try await self.languagePipeline(transcriber).run(URL(fileURLWithPath: "/in.wav"))

        #expect(Array(transcriber.requested.prefix(3)) == [nil, nil, "de"])
        #expect(outcome.languageDetection?.chunk == 1)
    }

    @Test
    func aLanguageTheRequestNamesIsAskedForFromTheStartWithFullConcurrency() async throws {
        let transcriber = LanguageDetectingTranscriber(detected: "de")

        let outcome = try await self.languagePipeline(transcriber, language: "fr").run(URL(fileURLWithPath: "/in.wav"))

        #expect(transcriber.requested == Array(repeating: "fr", count: outcome.chunks.count))
        #expect(transcriber.maxInFlightPinned > 1)
        #expect(outcome.transcript.language == "fr")
        #expect(outcome.languageDetection == nil)
        let json = try JSONValue(encoding: TranscriptDocument.assemble(outcome, audioURI: nil, passThrough: nil))
        #expect(json["language_detection"] == nil)
    }

    @Test
    func finishedChunksFromACheckpointAreNotSentAgain() async throws {
        let first = RecordingTranscriber()
        let saved = Mutex<[Int: ChunkResult]>([:])
        let complete = try await self.pipeline(first).run(URL(fileURLWithPath: "/in.wav")) { result, _ in
            saved.withLock { $0[result.index] = result }
        }
        let checkpoint = saved.withLock { $0.filter { $0.key < 3 } }

        let second = RecordingTranscriber()
        let resumed = try await self.pipeline(second).run(URL(fileURLWithPath: "/in.wav"), resume: checkpoint)

        #expect(second.calls == complete.chunks.count - 3)
        #expect(resumed.transcript == complete.transcript)
    }

    @Test
    func aChunkThatFailsEverywhereFailsTheRunWithItsTimeRange() async throws {
        let transcriber = RecordingTranscriber(failWhenLongerThan: 0)

        let error = await #expect(throws: TranscriptionError.self) {
            _ = try await self.pipeline(transcriber, concurrency: 1).run(URL(fileURLWithPath: "/in.wav"))
        }

        guard case .chunkFailed(let index, let start, let end, let cause) = error else { return }
        #expect(index == 0 && start == 0 && end > 20)
        #expect(cause.attempts.first?.status == 503)
        #expect(error?.description.hasPrefix("chunk 0 (0.00–") == true)
    }

    @Test
    func silentChunksAreNeverSent() async throws {
        let samples = Signals.make([.tone(10), .silence(0.5), .tone(12), .silence(50), .tone(8)]).samples
        let transcriber = RecordingTranscriber()

        let outcome = try await self.pipeline(transcriber, samples: samples).run(URL(fileURLWithPath: "/in.wav"))

        #expect(outcome.chunks.contains { $0.skipped })
        #expect(transcriber.calls == outcome.chunks.filter { !$0.skipped }.count)
    }
}
