import Foundation
import HTTPAPI
import PipelineCore
import Testing

extension HTTPServerTests {
    /// Starting, shutting down gracefully, cancelling.
    @Suite struct Lifecycle {
        @Test func gracefulShutdownFinishesInFlightRequestsAndRefusesNewOnes() async throws {
            let outcome = try await withServer { server in
                let keptAlive = try server.connect()
                let first = try await keptAlive.io { client in
                    try client.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                    return try client.readResponse()
                }
                #expect(first.status == 200)
                let inFlight = try server.connect()
                try await inFlight.io { try $0.send("GET /sleep?ms=1000 HTTP/1.1\r\nHost: test\r\n\r\n") }
                try await within(.seconds(5), "the responder to start") {
                    await server.events.wait(for: "sleep-started")
                }

                server.shutdown.request()

                let refused = try await Self.connectionsBecomeRefused(port: server.port)
                let late = try await keptAlive.io { client in
                    try client.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                    return try client.readResponse()
                }
                let finished = try await inFlight.io { try $0.readResponse() }
                return (refused, late, finished)
            }

            #expect(outcome.0)
            #expect(outcome.1.status == 503)
            #expect(outcome.1.header("Retry-After") == "1")
            #expect(outcome.1.header("Connection")?.lowercased() == "close")
            #expect(outcome.2.status == 200)
            #expect(outcome.2.json["slept"] == .number(1000))
            #expect(outcome.2.header("Connection")?.lowercased() == "close")
        }

        @Test(.timeLimit(.minutes(1)))
        func cancellationEndsRunPromptlyAndAnswersWhatIsSuspended() async throws {
            let responder = TestResponder()
            let settings = testSettings()
            defer { try? FileManager.default.removeItem(at: settings.scratchDirectory) }
            let server = try HTTPServer(
                settings: settings, responder: responder, shutdown: ShutdownSignal(), logger: .silent)
            let sleeper = try RawClient(port: server.port)
            let streamer = try RawClient(port: server.port)

            let (elapsed, sleeperGot, streamerGot) = try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.run() }
                try await sleeper.io { try $0.send("GET /sleep?ms=60000 HTTP/1.1\r\nHost: test\r\n\r\n") }
                let first = try await streamer.io { client -> Data? in
                    try client.send("GET /gate HTTP/1.1\r\nHost: test\r\n\r\n")
                    _ = try client.readHead()
                    return try client.readChunk()
                }
                #expect(first == Data("first\n".utf8))
                try await within(.seconds(5), "both responders to wait") {
                    await responder.events.wait(for: "sleep-started")
                    await responder.events.wait(for: "gate-waiting")
                }
                let start = ContinuousClock.now
                group.cancelAll()
                try await group.waitForAll()
                let elapsed = ContinuousClock.now - start
                let sleeperGot = try await sleeper.io { client -> String in
                    (try? client.readResponse()).map { "\($0.status)" } ?? "closed"
                }
                let streamerGot = try await streamer.io { client -> String in
                    do {
                        return try client.readChunk() == nil ? "complete" : "more"
                    } catch {
                        return "closed"
                    }
                }
                return (elapsed, sleeperGot, streamerGot)
            }

            print("figure: run() returned \(elapsed) after cancellation")
            #expect(elapsed < .seconds(2))
            #expect(responder.events.count("sleep-cancelled") == 1)
            #expect(sleeperGot == "503")
            #expect(streamerGot == "closed")
            #expect(
                ((try? FileManager.default.contentsOfDirectory(atPath: settings.scratchDirectory.path)) ?? []).isEmpty)
            #expect(server.openConnections == 0)
            #expect(server.openExchanges == 0)
        }

        @Test func aServerThatNeverRanStopsWhenReleased() async throws {
            let settings = testSettings()
            defer { try? FileManager.default.removeItem(at: settings.scratchDirectory) }
            var server: HTTPServer? = try HTTPServer(
                settings: settings, responder: TestResponder(), shutdown: ShutdownSignal(), logger: .silent)
            let port = try #require(server?.port)
            let client = try RawClient(port: port, timeout: .seconds(5))
            try await client.io { try $0.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n") }

            server = nil

            let answer = try await client.io { client -> Int? in (try? client.readResponse())?.status }
            #expect(answer == 503 || answer == nil)
            #expect(throws: (any Error).self) { try RawClient(port: port) }
        }

        @Test func aTakenPortIsReportedWithTheAddressAndTheReason() async throws {
            try await withServer { server in
                let settings = testSettings { $0.port = server.port }
                #expect {
                    _ = try HTTPServer(
                        settings: settings, responder: TestResponder(), shutdown: ShutdownSignal(), logger: .silent)
                } throws: { error in
                    guard case HTTPServerError.startFailed(let address, let reason) = error else { return false }
                    return address == "127.0.0.1:\(server.port)" && reason.contains("Address already in use")
                }
            }
        }

        @Test func badSettingsAndASecondRunAreErrors() async throws {
            #expect(throws: HTTPServerError.invalidAddress("example.com")) {
                _ = try HTTPServer(
                    settings: testSettings { $0.host = "example.com" }, responder: TestResponder(),
                    shutdown: ShutdownSignal(), logger: .silent)
            }
            #expect(throws: HTTPServerError.invalidSettings("port 70000 is not in 0...65535")) {
                _ = try HTTPServer(
                    settings: testSettings { $0.port = 70000 }, responder: TestResponder(),
                    shutdown: ShutdownSignal(), logger: .silent)
            }
            try await withServer { server in
                // Answered, so the first run() is under way.
                let health = try await server.get("/healthz")
                #expect(health.status == 200)
                await #expect(throws: HTTPServerError.alreadyRunning) { try await server.server.run() }
            }
        }

        @Test func ipv6LoopbackIsServed() async throws {
            let settings = testSettings { $0.host = "::1" }
            let response = try await withServer(settings) { server in
                let client = try RawClient(port: server.port, host: "::1")
                return try await client.io { client in
                    try client.send("GET /echo HTTP/1.1\r\nHost: [::1]\r\nConnection: close\r\n\r\n")
                    return try client.readResponse()
                }
            }

            #expect(response.status == 200)
            #expect(response.json["remote"] == .string("::1"))
        }

        /// Whether connecting to `port` is refused within two seconds.
        static func connectionsBecomeRefused(port: Int) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(2)
            while ContinuousClock.now < deadline {
                do {
                    _ = try RawClient(port: port)
                } catch let error as POSIXError where error.code == .ECONNREFUSED {
                    return true
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            return false
        }
    }

    /// Requests that are not what they should be.
    @Suite struct BadRequests {
        /// A malformed request and what it gets: a status, or nil for a close without a response.
        struct Case: Sendable, CustomTestStringConvertible {
            var name: String
            var request: String
            var status: Int?
            var testDescription: String { self.name }
        }

        static let cases = [
            Case(name: "garbage request line", request: "GARBAGE\r\n\r\n", status: nil),
            Case(name: "HTTP/1.1 without Host", request: "GET /healthz HTTP/1.1\r\n\r\n", status: 400),
            Case(
                name: "gzip transfer encoding",
                request: "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", status: 501),
            Case(
                name: "Content-Length and Transfer-Encoding",
                request:
                    "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
                status: 400),
            Case(
                name: "two different Content-Lengths",
                request: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}",
                status: 400),
            Case(
                name: "non-numeric Content-Length",
                request: "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n", status: 400),
            Case(
                name: "bad chunk size",
                request: "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", status: 400),
            Case(
                name: "head over maxHeaderBytes",
                request: "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "h", count: 10_000))\r\n\r\n",
                status: 431),
            Case(
                name: "head over libmicrohttpd's pool",
                request:
                    "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Huge: \(String(repeating: "h", count: 100_000))\r\n\r\n",
                status: 431),
            Case(
                name: "request line over libmicrohttpd's pool",
                request: "GET /\(String(repeating: "u", count: 100_000)) HTTP/1.1\r\nHost: t\r\n\r\n", status: 414),
        ]

        @Test(arguments: Self.cases)
        func isAnsweredAndTheServerKeepsServing(_ bad: Case) async throws {
            let (status, after) = try await withServer { server in
                let client = try server.connect()
                let status = try await client.io { client -> Int? in
                    try client.send(bad.request)
                    do {
                        return try client.readResponse().status
                    } catch RawClient.ReadError.closed {
                        return nil
                    }
                }
                return (status, try await server.get("/healthz"))
            }

            #expect(status == bad.status)
            #expect(after.status == 200)
        }

        @Test func ourHeaderLimitIsAnsweredInTheRespondersShape() async throws {
            let response = try await withServer { server in
                try await server.exchange(
                    "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "h", count: 10_000))\r\n\r\n")
            }

            #expect(response.status == 431)
            #expect(response.json["detail"] == .string("request headers are larger than the limit of 8192 bytes"))
        }

        @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
            let paths = try await withServer { server in
                let client = try server.connect()
                return try await client.io { client -> [String] in
                    try client.send(
                        (1...3).map { "GET /echo?n=\($0) HTTP/1.1\r\nHost: test\r\n\r\n" }.joined()
                            + "POST /echo?n=4 HTTP/1.1\r\nHost: test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
                    )
                    return try (1...4).map { _ in
                        let response = try client.readResponse()
                        guard case .array(let query) = response.json["query"], case .array(let pair) = query.first,
                            case .string(let value) = pair.last
                        else { return "?" }
                        return value
                    }
                }
            }

            #expect(paths == ["1", "2", "3", "4"])
        }
    }
}
