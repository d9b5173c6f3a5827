import Foundation
import PipelineCore
import Testing

struct TranscriptionReplyParserTests {
    @Test
    func openAIVerboseJSONWithWords() throws {
        let body = """
            {"task":"transcribe","language":"english","duration":8.47,"text":"The beach was a popular spot.",
             "segments":[{"id":0,"seek":0,"start":0.0,"end":3.32,"text":" The beach was","tokens":[50364],
               "temperature":0.0,"avg_logprob":-0.286,"compression_ratio":1.236,"no_speech_prob":0.0099},
              {"id":1,"seek":0,"start":3.32,"end":5.0,"text":" a popular spot.","tokens":[],"temperature":0.0,
               "avg_logprob":-0.2,"compression_ratio":1.1,"no_speech_prob":0.01}],
             "words":[{"word":"The","start":0.0,"end":0.24},{"word":"beach","start":0.24,"end":0.6}],
             "usage":{"type":"duration","seconds":9}}
            """

        let transcript = try TranscriptionReplyParser.parse(Data(body.utf8), duration: 8.47)

        #expect(transcript.language == "en")
        #expect(transcript.text == "The beach was a popular spot.")
        #expect(transcript.segments.map(\.text) == ["The beach was", "a popular spot."])
        #expect(transcript.segments[0].compressionRatio == 1.236)
        #expect(transcript.words.map(\.word) == ["The", "beach"])
    }

    @Test
    func jsonOnlyRepliesSpanTheAudioSent() throws {
        let transcript = try TranscriptionReplyParser.parse(Data(#"{"text":"Hello there."}"#.utf8), duration: 12.5)

        #expect(transcript.segments == [TranscriptSegment(id: 0, start: 0, end: 12.5, text: "Hello there.")])
        #expect(transcript.language == nil)
    }

    @Test
    func whisperCppPutsWordsInsideSegments() throws {
        let body = """
            {"task":"transcribe","language":"german","duration":2.0,"text":" Guten Tag",
             "segments":[{"id":0,"text":" Guten Tag","start":0.0,"end":1.5,"tokens":[1,2],
               "words":[{"word":" Guten","start":0.0,"end":0.7,"t_dtw":-1,"probability":0.9},
                        {"word":" Tag","start":0.7,"end":1.5,"t_dtw":-1,"probability":0.8}],
               "temperature":0.0,"avg_logprob":-0.3,"no_speech_prob":0.01}],
             "detected_language":"german","detected_language_probability":0.97}
            """

        let transcript = try TranscriptionReplyParser.parse(Data(body.utf8), duration: 2)

        #expect(transcript.language == "de")
        #expect(transcript.words.map(\.word) == ["Guten", "Tag"])
        #expect(transcript.segments[0].words?.count == 2)
        #expect(transcript.segments[0].compressionRatio == nil)
    }

    @Test
    func timesAreClampedIntoTheAudio() throws {
        let body = #"{"text":"x","segments":[{"start":-0.5,"end":40,"text":"x"},{"start":5,"end":4,"text":"y"}]}"#

        let transcript = try TranscriptionReplyParser.parse(Data(body.utf8), duration: 30)

        #expect(transcript.segments.map(\.start) == [0, 5])
        #expect(transcript.segments.map(\.end) == [30, 5])
    }

    @Test(arguments: [
        (#"{"text": "trunc"#, #"the reply is not JSON (starts with '{"text": "trunc')"#),
        ("<html>oops</html>", "the reply is not JSON (starts with '<html>oops</html>')"),
        (#"{"unexpected": true}"#, "the reply has neither 'text' nor 'segments'"),
        (#"["text"]"#, "the reply is JSON but not an object"),
        (#"{"segments": {"a": 1}}"#, "'segments' is not an array"),
        (#"{"segments": [{"text": "no times"}]}"#, "segment 0 has no numeric start and end"),
        (#"{"text":"a","words":[{"word":"a"}]}"#, "words: a word lacks 'word', 'start' or 'end'"),
    ])
    func garbageIsAMalformedReply(body: String, message: String) {
        #expect(throws: ProviderFailure(.malformedResponse, message: message)) {
            _ = try TranscriptionReplyParser.parse(Data(body.utf8), duration: 1)
        }
    }

    @Test(arguments: [
        ("english", "en"), ("English", "en"), ("en", "en"), ("pt-BR", "pt"), ("chinese", "zh"), ("klingon", nil),
    ])
    func languageNamesBecomeCodes(name: String, code: String?) {
        #expect(LanguageCodes.code(for: name) == code)
    }
}
