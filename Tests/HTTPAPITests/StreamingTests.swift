import Foundation
import HTTPAPI
import PipelineCore
import Testing

extension HTTPServerTests {
    /// Streamed responses, and clients that leave.
    @Suite struct Streaming {
        @Test func chunksArriveAsTheyAreProduced() async throws {
            let (response, events) = try await withServer { server in
                let response = try await server.exchange(
                    "GET /stream?chunks=5&ms=200 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                return (response, server.events)
            }

            #expect(response.status == 200)
            #expect(response.header("Transfer-Encoding") == "chunked")
            #expect(response.chunks.map { String(decoding: $0.data, as: UTF8.self) } == (0..<5).map { "chunk \($0)\n" })
            var delays: [Duration] = []
            for index in 0..<5 {
                let produced = try #require(events.time("produced-\(index)"))
                let arrived = response.chunks[index].arrived
                delays.append(arrived - produced)
                // Each chunk is on the client before the next one exists: nothing waits for the end.
                if let next = events.time("produced-\(index + 1)") {
                    #expect(arrived < next)
                }
            }
            print("figure: streamed chunk delivery after production: max \(delays.max()!)")
        }

        @Test func aStreamWaitingForItsNextChunkCostsNoCPU() async throws {
            let (first, second, ended, cpu) = try await withServer { server in
                let client = try server.connect()
                let (head, first) = try await client.io { client -> (RawClient.Response, Data?) in
                    try client.send("GET /gate HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                    return (try client.readHead(), try client.readChunk())
                }
                #expect(head.status == 200)
                try await within(.seconds(5), "the stream to wait") { await server.events.wait(for: "gate-waiting") }
                // The whole test process is measured (scripts/test runs this test alone, after the others): of up to
                // 25 windows of 0.3 s (inside the 10 s idle timeout) the quietest counts, and a quiet one ends the
                // wait. A stream that polled would burn its share in every window.
                var cpu = Duration.seconds(1)
                for _ in 0..<25 where cpu >= .milliseconds(25) {
                    let before = ProcessFigures.cpuTime
                    try await Task.sleep(for: .milliseconds(300))
                    cpu = min(cpu, ProcessFigures.cpuTime - before)
                }
                server.events.record("open")
                let (second, end) = try await client.io { client in (try client.readChunk(), try client.readChunk()) }
                return (first, second, end == nil, cpu)
            }

            print("figure: CPU of the whole test process over the quietest 0.3 s of a stream's wait: \(cpu)")
            #expect(first == Data("first\n".utf8))
            #expect(second == Data("second\n".utf8))
            #expect(ended)
            #expect(cpu < .milliseconds(25))
        }

        @Test func aProducerAheadOfASlowReaderWaits() async throws {
            let (producedWhileUnread, total) = try await withServer { server in
                let client = try server.connect()
                let head = try await client.io { client in
                    try client.send("GET /flood?chunks=1024 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                    return try client.readHead()
                }
                #expect(head.status == 200)
                // The client reads nothing for half a second: the producer must stop once the buffers are full.
                try await Task.sleep(for: .milliseconds(500))
                let produced = server.responder.flooded.value
                let total = try await client.io { client -> Int in
                    var bytes = 0
                    while let chunk = try client.readChunk() { bytes += chunk.count }
                    return bytes
                }
                return (produced, total)
            }

            print("figure: 64 MiB flood, produced while unread: \(producedWhileUnread) chunks of 64 KiB")
            #expect(total == 1024 << 16)
            // The server buffers 256 KiB; the rest is in the kernel's socket buffers (a few MiB on loopback).
            #expect(producedWhileUnread < 256)
        }

        @Test func aStreamThatFailsEndsWithoutTheFinalChunk() async throws {
            let outcome = try await withServer { server in
                let client = try server.connect()
                return try await client.io { client -> String in
                    try client.send("GET /broken HTTP/1.1\r\nHost: test\r\n\r\n")
                    let head = try client.readHead()
                    let first = try client.readChunk()
                    do {
                        _ = try client.readChunk()
                        return "complete"
                    } catch RawClient.ReadError.closed {
                        return "\(head.status) \(String(decoding: first ?? Data(), as: UTF8.self)) closed"
                    }
                }
            }

            #expect(outcome == "200 partial\n closed")
        }

        @Test func aClientClosingMidStreamCancelsTheProducer() async throws {
            let (cancelled, finished) = try await withServer { server in
                let client = try server.connect()
                let first = try await client.io { client -> Data? in
                    try client.send("GET /stream?chunks=1000&ms=50 HTTP/1.1\r\nHost: test\r\n\r\n")
                    _ = try client.readHead()
                    return try client.readChunk()
                }
                #expect(first == Data("chunk 0\n".utf8))
                client.closeNow()
                try await within(.seconds(5), "the producer to be cancelled") {
                    await server.events.wait(for: "stream-cancelled")
                }
                return (server.events.count("stream-cancelled"), server.events.count("stream-finished"))
            }

            #expect(cancelled == 1)
            #expect(finished == 0)
        }

        @Test func aClientResettingWhileTheResponderWorksCancelsIt() async throws {
            let (cancelled, finished, elapsed) = try await withServer { server in
                let client = try server.connect()
                try await client.io { try $0.send("GET /sleep?ms=60000 HTTP/1.1\r\nHost: test\r\n\r\n") }
                try await within(.seconds(5), "the responder to start") {
                    await server.events.wait(for: "sleep-started")
                }
                let start = ContinuousClock.now
                client.resetOnClose()
                client.closeNow()
                try await within(.seconds(5), "the responder to be cancelled") {
                    await server.events.wait(for: "sleep-cancelled")
                }
                return (
                    server.events.count("sleep-cancelled"), server.events.count("sleep-finished"),
                    ContinuousClock.now - start
                )
            }

            print("figure: reset noticed and responder cancelled after \(elapsed)")
            #expect(cancelled == 1)
            #expect(finished == 0)
            #expect(elapsed < .seconds(2))
        }

        @Test func aHalfClosedClientStillGetsItsResponse() async throws {
            let (response, events) = try await withServer { server in
                let client = try server.connect()
                let response = try await client.io { client in
                    try client.send("GET /sleep?ms=500 HTTP/1.1\r\nHost: test\r\n\r\n")
                    client.shutdownWrite()
                    return try client.readResponse()
                }
                return (response, server.events.all)
            }

            #expect(response.status == 200)
            #expect(response.json["slept"] == .number(500))
            #expect(events.contains("sleep-finished"))
            #expect(!events.contains("sleep-cancelled"))
        }

        @Test func twoHundredConcurrentRequestsAreAllAnswered() async throws {
            let (codes, most, elapsed) = try await withServer { server in
                let url = "http://127.0.0.1:\(server.port)/sleep?ms=500"
                let start = ContinuousClock.now
                let output = try await curl(
                    ["--parallel", "--parallel-immediate", "--parallel-max", "200", "-w", "%{http_code}\n"]
                        + Array(repeating: ["-o", "/dev/null", url], count: 200).flatMap { $0 })
                let elapsed = ContinuousClock.now - start
                return (
                    output.split(separator: "\n").map(String.init), server.responder.concurrency.value.most, elapsed
                )
            }

            print("figure: 200 concurrent requests of 0.5 s: \(elapsed), at most \(most) answered at once")
            #expect(codes.count == 200)
            #expect(codes.allSatisfy { $0 == "200" })
            #expect(most >= 100)
            #expect(elapsed < .seconds(20))
        }
    }
}
