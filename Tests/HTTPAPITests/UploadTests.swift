import Foundation
import HTTPAPI
import PipelineCore
import Testing

extension HTTPServerTests {
    /// Request bodies: memory or scratch file, size caps, body timeouts.
    @Suite struct Uploads {
        @Test func fiftyMegabytesGoToAScratchFileWithoutGrowingMemory() async throws {
            let source = FileManager.default.temporaryDirectory.appendingPathComponent("upload-source-\(UUID())")
            defer { try? FileManager.default.removeItem(at: source) }
            try Self.writeFile(source, megabytes: 50)

            let streamed = try await Self.upload(source, memoryBodyBytes: 64 << 10)
            // The control: the same upload with the memory threshold above the body, so the body is held in memory.
            // It shows that the measurement sees a body in memory.
            let held = try await Self.upload(source, memoryBodyBytes: 64 << 20)

            print(
                "figure: 50 MB upload streamed to a file: resident memory +\(streamed.growth) kB (sampled), "
                    + "peak +\(streamed.peakGrowth) kB (VmHWM); control held in memory: +\(held.growth) kB, "
                    + "peak +\(held.peakGrowth) kB")
            #expect(streamed.echo["kind"] == .string("file"))
            #expect(streamed.echo["bytes"] == .number(Double(50 << 20)))
            #expect(streamed.echo["exists"] == .bool(true))
            #expect(streamed.deletedAfterResponse)
            #expect(streamed.leftover.isEmpty)
            #expect(held.echo["kind"] == .string("memory"))
            // The body is 51 200 kB. The control's peak can fall short of it when pages freed by tests running beside
            // this one are reused (seen: 33 MB), so it only has to stand clear of the bound the streamed upload meets.
            #expect(streamed.growth < 16 << 10)
            #expect(streamed.peakGrowth < 16 << 10)
            #expect(held.peakGrowth > 24 << 10)
        }

        /// What uploading `source` through curl to `/echo` showed, with memory figures in kB.
        struct UploadFigures: Sendable {
            var echo: JSONValue
            var growth: Int
            var peakGrowth: Int
            var deletedAfterResponse: Bool
            var leftover: [String]
        }

        static func upload(_ source: URL, memoryBodyBytes: Int) async throws -> UploadFigures {
            let settings = testSettings { $0.memoryBodyBytes = memoryBodyBytes }
            return try await withServer(settings) { server in
                // Free heap goes back to the kernel first, so a body held in memory would need new pages.
                ProcessFigures.releaseFreeHeap()
                let baseline = ProcessFigures.status("VmRSS")
                let resetPeak = ProcessFigures.resetPeak()
                let upload = try await Self.sampleResidentMemory {
                    try await curl(["-X", "POST", "-T", source.path, "http://127.0.0.1:\(server.port)/echo"])
                }
                let peak = resetPeak ? ProcessFigures.status("VmHWM") : upload.maxRSS
                let echo = try JSONDecoder().decode(JSONValue.self, from: Data(upload.value.utf8))
                var deleted = true
                if case .string(let path) = echo["file"] {
                    deleted = try await Self.eventually { !FileManager.default.fileExists(atPath: path) }
                }
                return UploadFigures(
                    echo: echo, growth: upload.maxRSS - baseline, peakGrowth: peak - baseline,
                    deletedAfterResponse: deleted, leftover: server.scratchFiles)
            }
        }

        @Test func bodiesUpToTheMemoryThresholdStayInMemory() async throws {
            let settings = testSettings { $0.memoryBodyBytes = 1000 }
            let kinds = try await withServer(settings) { server -> [String] in
                var kinds: [String] = []
                for (size, chunked) in [(1000, false), (1001, false), (900, true), (5000, true)] {
                    let body = String(repeating: "x", count: size)
                    let framing =
                        chunked
                        ? "Transfer-Encoding: chunked\r\n\r\n\(String(size, radix: 16))\r\n\(body)\r\n0\r\n\r\n"
                        : "Content-Length: \(size)\r\n\r\n\(body)"
                    let response = try await server.exchange(
                        "POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\(framing)")
                    #expect(response.json["bytes"] == .number(Double(size)))
                    if case .string(let kind) = response.json["kind"] { kinds.append(kind) }
                }
                return kinds
            }

            #expect(kinds == ["memory", "file", "memory", "file"])
        }

        @Test func declaredLengthOverTheCapIsRefusedBeforeTheBody() async throws {
            let settings = testSettings { $0.maxBodyBytes = 1 << 20 }
            let (plain, openAI, events) = try await withServer(settings) { server in
                // Only the head is sent: the answer must come without the body.
                let plain = try await server.exchange(
                    "POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: \((1 << 20) + 1)\r\n\r\n")
                let openAI = try await server.exchange(
                    "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: test\r\nContent-Length: 999999999999\r\n\r\n")
                return (plain, openAI, server.events.all)
            }

            #expect(plain.status == 413)
            #expect(plain.json["detail"] == .string("request body is larger than the limit of 1048576 bytes"))
            #expect(openAI.status == 413)
            #expect(openAI.json["error"]?["type"] == .string("invalid_request_error"))
            #expect(!events.contains("admit /echo"))
        }

        @Test func chunkedBodyPassingTheCapIsRefusedWhileItIsSent() async throws {
            let settings = testSettings { $0.maxBodyBytes = 1 << 20 }
            let (response, sentWhenAnswered) = try await withServer(settings) { server in
                let client = try server.connect()
                try await client.io {
                    try $0.send("POST /echo HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n\r\n")
                }
                // 64 KiB chunks until the answer arrives; the terminating chunk is never sent.
                let chunk = "10000\r\n" + String(repeating: "z", count: 1 << 16) + "\r\n"
                var sent = 0
                while sent < 8 << 20 {
                    try await client.io { try $0.send(chunk) }
                    sent += 1 << 16
                    if sent > 1 << 20, !client.isOpenAndSilent { break }
                }
                let response = try await client.io { try $0.readResponse() }
                return (response, sent)
            }

            #expect(response.status == 413)
            #expect(response.header("Connection")?.lowercased() == "close")
            #expect(response.json["detail"] == .string("request body is larger than the limit of 1048576 bytes"))
            // Answered while the body was still coming (what the client had sent by then depends on how much
            // the loopback's socket buffers took), not after a terminating chunk that never comes.
            #expect(sentWhenAnswered < 8 << 20)
        }

        @Test func curlUploadingChunkedPastTheCapGets413() async throws {
            let source = FileManager.default.temporaryDirectory.appendingPathComponent("upload-chunked-\(UUID())")
            defer { try? FileManager.default.removeItem(at: source) }
            try Self.writeFile(source, megabytes: 8)
            let settings = testSettings { $0.maxBodyBytes = 1 << 20 }

            let status = try await withServer(settings) { server in
                try await curl([
                    "-o", "/dev/null", "-w", "%{http_code}", "-H", "Transfer-Encoding: chunked", "-T", source.path,
                    "-X", "POST", "http://127.0.0.1:\(server.port)/echo",
                ])
            }

            #expect(status == "413")
        }

        @Test func bodyDrippingPastTheTimeoutGets408() async throws {
            let settings = testSettings { $0.bodyTimeout = .seconds(1) }
            let (response, elapsed) = try await withServer(settings) { server in
                let client = try server.connect()
                let start = ContinuousClock.now
                try await client.io { try $0.send("POST /echo HTTP/1.1\r\nHost: test\r\nContent-Length: 1000\r\n\r\n") }
                let response = try await withThrowingTaskGroup(of: RawClient.Response?.self) { group in
                    group.addTask {
                        // One byte every 100 ms: never silent, so only a total deadline stops it.
                        for _ in 0..<100 {
                            try await Task.sleep(for: .milliseconds(100))
                            _ = try? await client.io { try $0.send("b") }
                        }
                        return nil
                    }
                    group.addTask { try await client.io { try $0.readResponse() } }
                    defer { group.cancelAll() }
                    while let next = try await group.next() {
                        if let next { return next }
                    }
                    throw TimedOut(what: "a response")
                }
                return (response, ContinuousClock.now - start)
            }

            #expect(response.status == 408)
            #expect(response.json["detail"] == .string("request body did not arrive within 1 s"))
            #expect(elapsed >= .seconds(1))
            #expect(elapsed < .seconds(4))
        }

        @Test func stalledBodyGets408FromTheSweeper() async throws {
            let settings = testSettings { $0.bodyTimeout = .seconds(1) }
            let (response, elapsed, closed) = try await withServer(settings) { server in
                let client = try server.connect()
                let start = ContinuousClock.now
                try await client.io {
                    try $0.send("POST /v1/audio/speech HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\n0123456789")
                }
                let response = try await client.io { try $0.readResponse() }
                let elapsed = ContinuousClock.now - start
                return (response, elapsed, try await client.io { $0.serverCloses() })
            }

            #expect(response.status == 408)
            #expect(response.json["error"]?["message"] == .string("request body did not arrive within 1 s"))
            #expect(elapsed >= .seconds(1))
            #expect(elapsed < .seconds(4))
            #expect(closed)
        }

        /// Writes `megabytes` MiB of a repeating pattern, a mebibyte at a time.
        static func writeFile(_ url: URL, megabytes: Int) throws {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            let handle = try FileHandle(forWritingTo: url)
            defer { try? handle.close() }
            let block = Data((0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) })
            for _ in 0..<megabytes { try handle.write(contentsOf: block) }
        }

        /// Runs `body` while sampling the resident set size every 10 ms; the largest sample, in kB.
        static func sampleResidentMemory<T: Sendable>(_ body: @escaping @Sendable () async throws -> T)
            async throws -> (value: T, maxRSS: Int)
        {
            let most = LockedValue(ProcessFigures.status("VmRSS"))
            let value = try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        let now = ProcessFigures.status("VmRSS")
                        most.withLock { $0 = max($0, now) }
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                    return nil
                }
                group.addTask { try await body() }
                defer { group.cancelAll() }
                while let next = try await group.next() {
                    if let next { return next }
                }
                throw TimedOut(what: "the upload")
            }
            return (value, most.value)
        }

        /// Whether `condition` becomes true within two seconds (checked every 10 ms).
        static func eventually(_ condition: @escaping @Sendable () -> Bool) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(2)
            while ContinuousClock.now < deadline {
                if condition() { return true }
                try await Task.sleep(for: .milliseconds(10))
            }
            return condition()
        }
    }
}
