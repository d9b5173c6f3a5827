import PipelineCore
import Testing

struct ElidedPausesTests {
    /// 10 s at 100 Hz, each sample its own index; 2–3 s and 5–7 s left out, so 7 s are sent.
    static let chunk = AudioChunk(
        index: 0, startSample: 0, samples: (0..<1_000).map(Float.init), sampleRate: 100, elided: [200..<300, 500..<700])

    @Test
    func whatIsSentLeavesTheElidedRangesOut() {
        let sent = Self.chunk.sentSamples

        #expect(sent.count == 700)
        #expect(Array(sent[198..<202]) == [198, 199, 300, 301])
        #expect(Array(sent[398..<402]) == [498, 499, 700, 701])
        #expect(sent.last == 999)
        let whole = AudioChunk(index: 0, startSample: 0, samples: [1, 2, 3], sampleRate: 100)
        #expect(whole.sentSamples == [1, 2, 3])
    }

    @Test
    func timesInTheAudioSentAreMovedBackToTheChunksOwn() {
        // Sent times: 1.0 is before any seam; 2.0 is the first seam; 3.5 lies between; 4.0 is the second seam.
        let words = [
            TranscriptWord(word: "one", start: 1.0, end: 2.0), TranscriptWord(word: "two", start: 2.0, end: 3.5),
            TranscriptWord(word: "three", start: 3.5, end: 4.0), TranscriptWord(word: "four", start: 4.0, end: 6.5),
        ]
        let sent = Transcript(
            text: "one two three four", duration: 7,
            segments: [
                TranscriptSegment(id: 0, start: 1.0, end: 2.0, text: "one", words: [words[0]]),
                TranscriptSegment(id: 1, start: 2.0, end: 6.5, text: "two three four", words: Array(words[1...])),
            ], words: words)

        let placed = Self.chunk.inChunkTime(sent)

        // A start at a seam moves to where the audio resumes; an end stays where it was left out.
        #expect(placed.words.map(\.start) == [1.0, 3.0, 4.5, 7.0])
        #expect(placed.words.map(\.end) == [2.0, 4.5, 5.0, 9.5])
        #expect(placed.segments.map(\.start) == [1.0, 3.0])
        #expect(placed.segments.map(\.end) == [2.0, 9.5])
        #expect(placed.segments[1].words?.map(\.start) == [3.0, 4.5, 7.0])
        #expect(placed.duration == 10)
        #expect(placed.text == sent.text)
    }

    @Test
    func aWordAtASeamNeverEndsBeforeItStartsAndTimesStayInTheChunk() {
        let sent = Transcript(
            text: "uh", segments: [TranscriptSegment(id: 0, start: 2.0, end: 2.0, text: "uh")],
            words: [TranscriptWord(word: "uh", start: 2.0, end: 2.0), TranscriptWord(word: "past", start: 6.5, end: 8)])

        let placed = Self.chunk.inChunkTime(sent)

        #expect(placed.words[0].start == 3.0 && placed.words[0].end == 3.0)
        #expect(placed.segments[0].start == 3.0 && placed.segments[0].end == 3.0)
        #expect(placed.words[1].start == 9.5 && placed.words[1].end == 10)
    }
}
