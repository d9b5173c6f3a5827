import Foundation
import Testing

struct MediaCommandTests {
    @Test
    func decodeWritesMonoWAVAtTheRequestedRate() async throws {
        let directory = try WorkerProcess.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("out.wav").path

        let outcome = try await WorkerProcess.run(
            ["decode", WorkerProcess.fixture("speech-44k-stereo.mp3"), "-o", output, "--rate", "8000"])

        #expect(outcome.status == 0, "\(outcome.stderr)")
        let summary = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        #expect(summary?["sample_rate"] as? Int == 8000)
        let wav = try Data(contentsOf: URL(fileURLWithPath: output))
        // RIFF header: channels at byte 22, rate at 24, bits at 34; data follows the 44-byte header.
        #expect(wav.prefix(4) == Data("RIFF".utf8))
        #expect(wav[22] == 1 && wav[23] == 0)
        #expect(wav.subdata(in: 24..<28).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) } == 8000)
        #expect(abs(Double(wav.count - 44) / 16_000 - 10.525) < 0.05)
    }

    @Test
    func aBadInputIsOneLineOnStderrNamingItAndTheReasonWithStatus1() async throws {
        let input = WorkerProcess.fixture("video-only.mp4")

        let outcome = try await WorkerProcess.run(["decode", input, "-o", "/tmp/never-written.wav"])

        #expect(outcome.status == 1)
        let lines = outcome.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(outcome.stderr.contains(input))
        #expect(outcome.stderr.contains("no audio stream"))
        #expect(outcome.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/never-written.wav"))
    }

    @Test(arguments: [
        ["decode"],
        ["decode", "in.mp3"],
        ["decode", "in.mp3", "-o", "out.unknown"],
        ["decode", "in.mp3", "-o", "out.wav", "--rate", "fast"],
        ["probe", "--bogus", "x"],
        ["no-such-command"],
    ])
    func usageErrorsExitWithStatus2(arguments: [String]) async throws {
        let outcome = try await WorkerProcess.run(arguments)

        #expect(outcome.status == 2, "\(arguments): \(outcome.stderr)")
        #expect(!outcome.stderr.isEmpty)
    }

    @Test
    func aMissingInputIsNamedOnceInTheErrorLine() async throws {
        let outcome = try await WorkerProcess.run(["transcribe", "/nonexistent-input.mp3"])

        #expect(outcome.status == 1)
        #expect(outcome.stderr.split(separator: "\n").count == 1)
        #expect(outcome.stderr.components(separatedBy: "/nonexistent-input.mp3").count == 2, "\(outcome.stderr)")
        #expect(outcome.stderr.contains("no such file"))
    }

    @Test
    func versionPrintsTheNameAndASemanticVersion() async throws {
        let outcome = try await WorkerProcess.run(["--version"])

        #expect(outcome.status == 0)
        let parts = outcome.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ")
        #expect(parts.first == "audio-worker")
        #expect(
            parts.count == 2 && parts[1].split(separator: ".").count == 3
                && parts[1].allSatisfy { $0.isNumber || $0 == "." })
    }

    @Test
    func probePrintsFormatDurationSizeAndStreams() async throws {
        let outcome = try await WorkerProcess.run(["probe", WorkerProcess.fixture("speech-video.mp4")])

        #expect(outcome.status == 0)
        let info = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
        #expect(Set(info?.keys.map { $0 } ?? []) == ["format", "duration", "size", "streams"])
        let streams = info?["streams"] as? [[String: Any]] ?? []
        #expect(streams.map { $0["type"] as? String } == ["video", "audio"])
        #expect(streams.last?["codec"] as? String == "aac")
        #expect(streams.last?["sample_rate"] as? Int == 16_000)
    }
}
