import PipelineCore
import Testing

struct SubtitleWriterTests {
    static let transcript = Transcript(
        text: "Hello there. General Kenobi, you are a bold one indeed, and this line is long enough to wrap. Bye -->",
        segments: [
            TranscriptSegment(id: 0, start: 0, end: 1.42, text: "Hello there."),
            TranscriptSegment(
                id: 1, start: 1.42, end: 6.0005,
                text: "General Kenobi, you are a bold one indeed, and this line is long enough to wrap."),
            TranscriptSegment(id: 2, start: 3723.25, end: 3725, text: "Bye -->"),
        ])

    @Test
    func srtMatchesTheGoldenFile() {
        #expect(
            SubtitleWriter().srt(Self.transcript) == """
                1
                00:00:00,000 --> 00:00:01,420
                Hello there.

                2
                00:00:01,420 --> 00:00:06,001
                General Kenobi, you are a bold one indeed,
                and this line is long enough to wrap.

                3
                01:02:03,250 --> 01:02:05,000
                Bye -->


                """)
    }

    @Test
    func vttMatchesTheGoldenFile() {
        #expect(
            SubtitleWriter().vtt(Self.transcript) == """
                WEBVTT

                00:00:00.000 --> 00:00:01.420
                Hello there.

                00:00:01.420 --> 00:00:06.001
                General Kenobi, you are a bold one indeed,
                and this line is long enough to wrap.

                01:02:03.250 --> 01:02:05.000
                Bye ->


                """)
    }

    @Test
    func plainTextIsTheJoinedText() {
        #expect(SubtitleWriter().txt(Self.transcript) == Self.transcript.text + "\n")
        #expect(SubtitleWriter().txt(Transcript(text: "", segments: [])) == "")
    }

    @Test
    func theJSONDocumentIsASupersetOfFFmpegWhispersResponse() throws {
        let document = TranscriptDocument(transcript: Self.transcript, chunks: [], warnings: [])

        let json = try JSONOutput.string(document)

        for key in [
            "\"ok\":true", "\"text\":", "\"language\":null", "\"segments\":", "\"word_segments\":null",
            "\"speakers\":{}",
            "\"model\":", "\"provider\":", "\"audio_uri\":null", "\"s3_uri\":null", "\"duration\":", "\"chunks\":[]",
            "\"speaker\":null", "\"end\":6.001",
        ] {
            #expect(json.contains(key), "\(key) missing in \(json)")
        }
    }
}
