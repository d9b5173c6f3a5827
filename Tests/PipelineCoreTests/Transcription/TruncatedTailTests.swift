import Foundation
import PipelineCore
import Synchronization
import Testing

/// Whisper stopping before the speech does, its last word stretched to the chunk's end: the tail is sent again.
struct TruncatedTailTests {
    static let rate = 16_000

    /// A chunk of `seconds` whose speech covers `speech` (seconds).
    static func chunk(seconds: Double, speech: [ClosedRange<Double>]) -> AudioChunk {
        AudioChunk(
            index: 0, startSample: 0, samples: [Float](repeating: 0, count: Int(seconds * Double(Self.rate))),
            sampleRate: Self.rate,
            speech: speech.map { Int($0.lowerBound * Double(Self.rate))..<Int($0.upperBound * Double(Self.rate)) })
    }

    /// "then the thunder started and the", each word 0.3 s from `start`, the last one lasting until `lastEnd`.
    static func cutOff(start: Double, lastEnd: Double) -> Transcript {
        let spoken = ["then", "the", "thunder", "started", "and", "the"]
        var words = spoken.enumerated().map { index, word in
            TranscriptWord(word: word, start: start + Double(index) * 0.3, end: start + Double(index + 1) * 0.3)
        }
        words[words.count - 1].end = lastEnd
        let earlier = TranscriptSegment(
            id: 0, start: 0.5, end: 3, text: " At first there was only a light rain.",
            words: [TranscriptWord(word: "At", start: 0.5, end: 0.7)])
        let last = TranscriptSegment(
            id: 1, start: start, end: lastEnd, text: " then the thunder started and the", words: words)
        return Transcript(
            text: "At first there was only a light rain. then the thunder started and the", segments: [earlier, last])
    }

    @Test
    func aLastWordHoldingSecondsOfSpeechToTheChunksEndIsStretched() {
        let transcript = Self.cutOff(start: 10, lastEnd: 12.9)
        // The speech goes on to 12.6: the last "the" (11.5–12.9) holds 1.1 s of it.
        let start = TruncatedTail.find(in: transcript, of: Self.chunk(seconds: 13, speech: [0.4...3.1, 9.9...12.6]))
        #expect(start == TruncatedTail.Tail(start: 11.5, replacesLastWord: true))
    }

    @Test
    func aLastWordDrawnOverSilenceOrEndingEarlyIsNot() {
        // Drawn over the silence after it: the speech ends at 11.9.
        let overSilence = Self.cutOff(start: 10, lastEnd: 12.9)
        #expect(TruncatedTail.find(in: overSilence, of: Self.chunk(seconds: 13, speech: [9.9...11.9])) == nil)
        // Long, but far from the chunk's end, and the speech ends soon after it: nothing missed.
        let early = Self.cutOff(start: 10, lastEnd: 13)
        #expect(TruncatedTail.find(in: early, of: Self.chunk(seconds: 25, speech: [9.9...13.5])) == nil)
        // No words at all: nothing to judge.
        let plain = Transcript(text: "hello", segments: [TranscriptSegment(id: 0, start: 0, end: 12.9, text: "hello")])
        #expect(TruncatedTail.find(in: plain, of: Self.chunk(seconds: 13, speech: [0...12.9])) == nil)
    }

    @Test
    func speechLongAfterTheLastWordWasMissed() {
        // Whisper ended its window at 13 s; the speech goes on to 24 s.
        let stopped = Self.cutOff(start: 10, lastEnd: 13)
        #expect(
            TruncatedTail.find(in: stopped, of: Self.chunk(seconds: 25, speech: [9.9...24]))
                == TruncatedTail.Tail(start: 13, replacesLastWord: false))
        // Some tenths of a second of speech after it are the voice activity's slack, not missed words; the 0.8 s of
        // "asked my sister." after a question are not.
        #expect(TruncatedTail.find(in: stopped, of: Self.chunk(seconds: 25, speech: [9.9...13.3, 20...20.3])) == nil)
        #expect(
            TruncatedTail.find(in: stopped, of: Self.chunk(seconds: 25, speech: [9.9...13.3, 20...20.5]))
                == TruncatedTail.Tail(start: 13, replacesLastWord: false))
    }

    @Test
    func theTailReplacesTheStretchedWordOnTheChunksTimeLine() {
        let transcript = Self.cutOff(start: 10, lastEnd: 12.9)
        let tail = Transcript(
            text: "the rain turned into a heavy storm.",
            segments: [
                TranscriptSegment(
                    id: 0, start: 0.15, end: 1.3, text: " the rain turned into a heavy storm.",
                    words: [
                        TranscriptWord(word: "the", start: 0.15, end: 0.3),
                        TranscriptWord(word: "storm.", start: 1.0, end: 1.3),
                    ])
            ])

        let spliced = TruncatedTail.splice(
            transcript, TruncatedTail.Tail(start: 11.5, replacesLastWord: true), with: tail, offset: 11.35)

        #expect(
            spliced.segments.map(\.text) == [
                " At first there was only a light rain.", "then the thunder started and",
                " the rain turned into a heavy storm.",
            ])
        #expect(
            spliced.text
                == "At first there was only a light rain. then the thunder started and the rain turned into a heavy storm."
        )
        #expect(spliced.segments[1].end == 11.5)
        #expect(spliced.segments[1].words?.map(\.word) == ["then", "the", "thunder", "started", "and"])
        let added = spliced.segments[2]
        #expect(added.id == 2 && abs(added.start - 11.5) < 1e-9 && abs(added.end - 12.65) < 1e-9)
        #expect(added.words?.map(\.start).map { ($0 * 100).rounded() / 100 } == [11.5, 12.35])
    }

    @Test
    func aWordTheTailHearsInItsLeadInIsNotWrittenTwice() {
        let transcript = Self.cutOff(start: 10, lastEnd: 12.9)
        // The lead-in before the stretched "the" holds the end of "and": the tail hears it again.
        let tail = Transcript(
            text: "And the rain turned into a heavy storm.",
            segments: [
                TranscriptSegment(
                    id: 0, start: 0, end: 1.3, text: " And the rain turned into a heavy storm.",
                    words: [
                        TranscriptWord(word: "And", start: 0, end: 0.12),
                        TranscriptWord(word: "the", start: 0.15, end: 0.3),
                        TranscriptWord(word: "storm.", start: 1.0, end: 1.3),
                    ])
            ])

        let spliced = TruncatedTail.splice(
            transcript, TruncatedTail.Tail(start: 11.5, replacesLastWord: true), with: tail, offset: 11.35)

        #expect(
            spliced.text
                == "At first there was only a light rain. then the thunder started and the rain turned into a heavy storm."
        )
        #expect(spliced.segments.last?.words?.map(\.word) == ["the", "storm."])
    }

    /// Speech after the last word: the tail follows it and nothing is cut, even a last word of no length; words
    /// only at the top level (OpenAI's shape) are carried the same way.
    @Test
    func aTailAfterTheLastWordKeepsEveryWordAndTopLevelWordsFollow() {
        let transcript = Transcript(
            text: "bright and clear again.",
            segments: [TranscriptSegment(id: 0, start: 10, end: 13, text: " bright and clear again.")],
            words: [
                TranscriptWord(word: "bright", start: 10, end: 10.5), TranscriptWord(word: "clear", start: 11, end: 12),
                TranscriptWord(word: "again.", start: 13, end: 13),
            ])
        let again = Transcript(
            text: "Again. The captain smiled.",
            segments: [TranscriptSegment(id: 0, start: 0, end: 1.4, text: " Again. The captain smiled.")],
            words: [
                TranscriptWord(word: "Again.", start: 0, end: 0.1), TranscriptWord(word: "The", start: 0.3, end: 0.5),
                TranscriptWord(word: "smiled.", start: 1, end: 1.4),
            ])

        let spliced = TruncatedTail.splice(
            transcript, TruncatedTail.Tail(start: 13, replacesLastWord: false), with: again, offset: 12.85)

        #expect(spliced.text == "bright and clear again. The captain smiled.")
        #expect(spliced.words.map(\.word) == ["bright", "clear", "again.", "The", "smiled."])
        #expect(spliced.segments.map(\.id) == [0, 1])
        #expect(abs((spliced.words.last?.end ?? 0) - 14.25) < 1e-9)
    }

    /// The pipeline sends a stretched tail once more, from just before the stretched word, and keeps its words.
    @Test
    func thePipelineSendsTheTailAgainAndStitchesWhatComesBack() async throws {
        let samples = Signals.make([.silence(0.5), .tone(12), .silence(0.3)]).samples
        let requests = Mutex<[Double]>([])
        let transcriber = ScriptedTranscriber { request in
            requests.withLock { $0.append(request.duration) }
            if request.duration > 5 {
                return Self.cutOff(start: request.duration - 3.4, lastEnd: request.duration - 0.05)
            }
            return Transcript(
                text: "the rain turned into a heavy storm.",
                segments: [
                    TranscriptSegment(
                        id: 0, start: 0.15, end: 1.5, text: " the rain turned into a heavy storm.",
                        words: [TranscriptWord(word: "storm.", start: 1.1, end: 1.5)])
                ])
        }
        let pipeline = TranscriptionPipeline(
            decoder: ArrayDecoder(samples: samples), transcriber: transcriber,
            settings: TranscriptionPipeline.Settings(concurrency: 1, language: "en"))

        let outcome = try await pipeline.run(URL(fileURLWithPath: "/in.wav"))

        let durations = requests.withLock { $0 }
        #expect(durations.count == 2, "\(durations)")
        // From 0.15 s before the stretched word (which started 1.9 s before the end) to the end.
        #expect(abs((durations.last ?? 0) - 2.05) < 0.03, "\(durations)")
        #expect(
            outcome.transcript.text.hasSuffix("started and the rain turned into a heavy storm."),
            "\(outcome.transcript.text)")
        #expect(outcome.chunks.first?.attempts.count == 2)
    }
}

extension TruncatedTailTests {
    /// A tail sent again has its long pauses shortened too, and what it brings is put back on the chunk's time line.
    @Test
    func aTailSentAgainLeavesItsLongPausesOutToo() async throws {
        let samples = Signals.make([.tone(6), .silence(3), .tone(6), .silence(0.3)]).samples
        let requests = Mutex<[Double]>([])
        let transcriber = ScriptedTranscriber { request in
            requests.withLock { $0.append(request.duration) }
            let first = requests.withLock { $0.count == 1 }
            // First Whisper stops after the first sentence; the tail then brings the second, 0.7 s into it (sent).
            let word = first ? ("half.", 5.0, 5.9) : ("second", 0.7, 1.2)
            return Transcript(
                text: word.0,
                segments: [
                    TranscriptSegment(
                        id: 0, start: word.1, end: word.2, text: word.0,
                        words: [TranscriptWord(word: word.0, start: word.1, end: word.2)])
                ])
        }
        var settings = TranscriptionPipeline.Settings(concurrency: 1, language: "en")
        settings.chunking.keptPauseSeconds = 0.4
        let pipeline = TranscriptionPipeline(
            decoder: ArrayDecoder(samples: samples), transcriber: transcriber, settings: settings)

        let outcome = try await pipeline.run(URL(fileURLWithPath: "/in.wav"))

        let durations = requests.withLock { $0 }
        #expect(durations.count == 2, "\(durations)")
        // 15.3 s with 2.6 s of the pause left out; the tail from 5.75 s is 9.55 s, of which 6.95 s are sent.
        #expect(abs(durations[0] - 12.7) < 0.05, "\(durations)")
        #expect(abs((durations.last ?? 0) - 6.95) < 0.05, "\(durations)")
        #expect(outcome.transcript.text == "half. second", "\(outcome.transcript.text)")
        let second = try #require(outcome.transcript.words.last)
        #expect(abs(second.start - 9.0) < 0.1 && abs(second.end - 9.55) < 0.05, "\(second)")
    }

    @Test
    func aStretchedWordIsJudgedAgainstTheEndOfWhatWasSent() {
        // A chunk cut in a 6 s pause: it holds 3 s of it, of which it sent 0.2 s.
        var chunk = Self.chunk(seconds: 16, speech: [9.9...13])
        chunk.elided = [211_200..<256_000]
        let stretched = Self.cutOff(start: 10, lastEnd: 13.2)

        #expect(chunk.sentEndSeconds == 13.2)
        #expect(TruncatedTail.find(in: stretched, of: chunk) == TruncatedTail.Tail(start: 11.5, replacesLastWord: true))
    }
}

/// A transcriber that answers each request with what `answer` makes of it.
final class ScriptedTranscriber: SpeechToText {
    let answer: @Sendable (TranscriptionRequest) -> Transcript

    init(_ answer: @escaping @Sendable (TranscriptionRequest) -> Transcript) { self.answer = answer }

    func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
        TranscriptionResult(
            transcript: self.answer(request),
            servedBy: ServedBy(function: "f", variant: "v", model: "m", provider: "p"),
            attempts: [GatewayAttempt(function: "f", variant: "v", model: "m", provider: "p", outcome: .ok)])
    }
}
