import Foundation
import Testing

@Suite(.serialized)
struct BatchCommandTests {
    /// A directory of media files to reprocess: copies of good fixtures, and one without audio.
    private func archive(in sandbox: WorkerSandbox, copies: Int = 1) throws -> URL {
        let directory = sandbox.directory.appendingPathComponent("archive/talks")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for index in 0..<copies {
            for name in ["speech.wav", "speech.mp3"] {
                try FileManager.default.copyItem(
                    at: WorkerProcess.fixtureURL(name), to: directory.appendingPathComponent("\(index)-\(name)"))
            }
        }
        try FileManager.default.copyItem(
            at: WorkerProcess.fixtureURL("video-only.mp4"), to: directory.appendingPathComponent("broken.mp4"))
        try "notes".write(to: directory.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
        return directory.deletingLastPathComponent()
    }

    @Test
    func aBatchTranscribesEveryMatchingFileSkipsDoneOnesAndReportsFailures() async throws {
        let server = try await SpeechServer.start(["--echo", "--no-preload"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(apiBase: server.apiBase)
        defer { sandbox.remove() }
        let source = try self.archive(in: sandbox)

        let first = try await sandbox.run(["batch", source.path])

        #expect(first.status == 1, "one file has no audio")
        #expect(first.stdout.contains("dead 1, succeeded 2"), "\(first.stdout)")
        #expect(first.stdout.contains("no audio stream"))
        #expect(!first.stdout.contains("notes.txt"))
        let store = sandbox.data + "/store/assets/transcripts/batch/archive/talks/"
        #expect(FileManager.default.fileExists(atPath: store + "0-speech.wav.json"))
        #expect(FileManager.default.fileExists(atPath: store + "0-speech.mp3.txt"))
        #expect(try await server.requests() == 2)

        let second = try await sandbox.run(["batch", source.path])

        #expect(second.status == 1)
        #expect(second.stdout.contains("dead 1, skipped 2"), "\(second.stdout)")
        #expect(try await server.requests() == 2, "done files are not sent again")

        let forced = try await sandbox.run(["batch", source.path, "--include", "*.wav", "--force"])

        #expect(forced.status == 0, "\(forced.stdout)")
        #expect(forced.stdout.contains("succeeded 1"))
        #expect(try await server.requests() == 3)
    }

    @Test
    func anInterruptedBatchResumesWhereItStopped() async throws {
        let server = try await SpeechServer.start(["--echo", "--no-preload", "--latency-ms", "1000"])
        defer { server.stop() }
        let sandbox = try WorkerSandbox(
            apiBase: server.apiBase, worker: "[worker]\nconcurrency = 1\nshutdown_grace_s = 0\n")
        defer { sandbox.remove() }
        let source = try self.archive(in: sandbox, copies: 4)
        let store = sandbox.data + "/store/assets/transcripts/batch/archive/talks/"

        let batch = try ServeProcess(["batch", source.path] + sandbox.options)
        defer { batch.stop() }
        let deadline = Date().addingTimeInterval(60)
        while !FileManager.default.fileExists(atPath: store + "0-speech.mp3.json") && Date() < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        batch.send(SIGINT)
        #expect(try await batch.wait(seconds: 30) == 1, "an interrupted batch exits 1")
        let doneBefore = try FileManager.default.contentsOfDirectory(atPath: store).filter { $0.hasSuffix(".json") }
            .count
        #expect(doneBefore >= 1 && doneBefore < 8)

        let resumed = try await sandbox.run(["batch", source.path])

        #expect(resumed.stdout.contains("dead 1"), "\(resumed.stdout)")
        let done = try FileManager.default.contentsOfDirectory(atPath: store).filter { $0.hasSuffix(".json") }
        #expect(done.count == 8)
        #expect(try await server.requests() <= 8 + 1, "at most the file in flight at the interrupt is sent twice")
    }
}
