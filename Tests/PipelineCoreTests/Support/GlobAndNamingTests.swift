import Foundation
import PipelineCore
import Testing

struct GlobTests {
    @Test(arguments: [
        ("*.mp3", "talks/2024/a.mp3", true), ("*.mp3", "a.MP3", true), ("*.mp3", "a.mp3.txt", false),
        ("talks/*.mp3", "talks/a.mp3", true), ("talks/*.mp3", "talks/2024/a.mp3", false),
        ("talks/**.mp3", "talks/2024/a.mp3", true), ("a?c.wav", "abc.wav", true), ("a?c.wav", "ac.wav", false),
    ])
    func patternsMatchAsInAShell(pattern: String, path: String, expected: Bool) {
        #expect(Glob.matches(pattern, path) == expected)
    }
}

struct JobInputsTests {
    @Test
    func namesAreDeterministicAndSafe() throws {
        let file = URL(fileURLWithPath: "/archive/talks/Episode 1.mp3")

        let key = JobInputs.storageKey(forLocalFile: file)

        #expect(
            key == JobInputs.storageKey(forLocalFile: URL(fileURLWithPath: "/archive/talks/../talks/Episode 1.mp3")))
        #expect(key.hasPrefix("inputs/") && key.hasSuffix("/Episode 1.mp3"))
        try StorageKey.validate(key)
        #expect(JobInputs.outputPrefix(forKey: "yt/abc/raw.mp4") == "transcripts/yt/abc/raw.mp4")
        #expect(JobInputs.outputPrefix(forKey: "yt/abc/raw.wav") != JobInputs.outputPrefix(forKey: "yt/abc/raw.mp4"))
        let speech = JobInputs.speechKey(text: "Hi.", voice: nil, format: "mp3", sampleRate: nil, function: nil)
        #expect(speech == JobInputs.speechKey(text: "Hi.", voice: nil, format: "mp3", sampleRate: nil, function: nil))
        #expect(speech != JobInputs.speechKey(text: "Hi!", voice: nil, format: "mp3", sampleRate: nil, function: nil))
        #expect(speech.hasPrefix("speech/") && speech.hasSuffix(".mp3"))
    }
}
