import Foundation
import HTTPAPI
import PipelineCore
import Testing

extension HTTPServerTests {
    /// Clients that hold connections: slow heads, silence, too many connections.
    @Suite struct SlowClients {
        @Test func slowHeadsUpToTheAddressCapDoNotDelayOtherClients() async throws {
            let settings = testSettings {
                $0.maxConnections = 64
                $0.maxConnectionsPerAddress = 40
                $0.headerTimeout = .seconds(30)
            }
            let (held, refused, latencies) = try await withServer(settings) { server in
                // 50 slow clients from 127.0.0.2: the address cap lets 40 in.
                var slow: [RawClient] = []
                for _ in 0..<50 {
                    let client = try server.connect(source: "127.0.0.2")
                    try? await client.io { try $0.send("GET /healthz HTTP/1.1\r\nHost: test\r\nX-Slow: ") }
                    slow.append(client)
                }
                let dripping = slow
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // A byte every 200 ms on every slow connection: never silent, never finished.
                        while !Task.isCancelled {
                            for client in dripping { _ = try? await client.io { try $0.send("a") } }
                            try await Task.sleep(for: .milliseconds(200))
                        }
                    }
                    defer { group.cancelAll() }
                    // A /healthz every 50 ms for two seconds while the slow clients drip.
                    var latencies: [Duration] = []
                    for _ in 0..<40 {
                        let start = ContinuousClock.now
                        let response = try await server.get("/healthz")
                        latencies.append(ContinuousClock.now - start)
                        #expect(response.status == 200)
                        try await Task.sleep(for: .milliseconds(50))
                    }
                    let held = dripping.filter(\.isOpenAndSilent).count
                    return (held, dripping.count - held, latencies.sorted())
                }
            }

            print(
                "figure: /healthz beside \(held) slow clients: median \(latencies[latencies.count / 2]), "
                    + "max \(latencies.last!)")
            #expect(held == 40)
            #expect(refused == 10)
            #expect(latencies.count == 40)
            #expect(latencies.last! < .seconds(2))
        }

        @Test func atTheConnectionCapNewConnectionsWaitUntilTheHeaderTimeoutFreesASlot() async throws {
            let settings = testSettings {
                $0.maxConnections = 4
                $0.threads = 1
                $0.headerTimeout = .seconds(1)
            }
            let (silentAtFirst, response, elapsed, slowClosed) = try await withServer(settings) { server in
                var slow: [RawClient] = []
                for index in 0..<4 {
                    let client = try server.connect(source: "127.0.0.\(10 + index)")
                    try await client.io { try $0.send("GET /healthz HTTP/1.1\r\nHost: te") }
                    slow.append(client)
                }
                // The fifth connection is completed by the kernel (the listen queue) but not accepted.
                let start = ContinuousClock.now
                let late = try server.connect()
                try await late.io { try $0.send("GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n") }
                try await Task.sleep(for: .milliseconds(300))
                let silentAtFirst = late.isOpenAndSilent
                let response = try await late.io { try $0.readResponse() }
                let elapsed = ContinuousClock.now - start
                var closed = 0
                for client in slow where try await client.io({ $0.serverCloses() }) { closed += 1 }
                return (silentAtFirst, response, elapsed, closed)
            }

            #expect(silentAtFirst)
            #expect(response.status == 200)
            #expect(elapsed >= .milliseconds(900))
            #expect(elapsed < .seconds(3))
            #expect(slowClosed == 4)
        }

        @Test func connectionsOverTheAddressCapAreClosedAtOnce() async throws {
            let settings = testSettings { $0.maxConnectionsPerAddress = 2 }
            let (third, other) = try await withServer(settings) { server in
                let first = try server.connect(source: "127.0.0.3")
                let second = try server.connect(source: "127.0.0.3")
                let third = try server.connect(source: "127.0.0.3", timeout: .seconds(2))
                try? await third.io { try $0.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n") }
                let answer = try await third.io { client -> Data? in try? client.readToEnd() }
                let other = try await server.get("/healthz")
                _ = (first, second)
                return (answer, other)
            }

            #expect(third?.isEmpty ?? true)
            #expect(other.status == 200)
        }

        @Test func aHeadDrippedPastTheHeaderTimeoutIsClosed() async throws {
            let settings = testSettings { $0.headerTimeout = .seconds(1) }
            let (closed, elapsed) = try await withServer(settings) { server in
                let client = try server.connect(timeout: .milliseconds(100))
                let start = ContinuousClock.now
                try await client.io { try $0.send("GET /healthz HTTP/1.1\r\nHost: test\r\n") }
                var closed = false
                for _ in 0..<50 where !closed {
                    _ = try? await client.io { try $0.send("X-Drip: 1\r\n") }
                    closed = try await client.io { $0.serverCloses() }
                }
                return (closed, ContinuousClock.now - start)
            }

            #expect(closed)
            #expect(elapsed >= .milliseconds(900))
            #expect(elapsed < .seconds(3))
        }

        @Test func aRequestLineDrippedPastTheHeaderTimeoutIsClosedWhileASilentConnectionMayIdle() async throws {
            // libmicrohttpd sees no request before a whole request line; the server sees the socket's bytes arrive
            // and gives the head the header timeout from then (nginx's client_header_timeout), while a connection
            // that sends nothing has the idle timeout, 30 s here.
            let settings = testSettings {
                $0.headerTimeout = .seconds(1)
                $0.idleTimeout = .seconds(30)
            }
            let (dripping, silentAfter, answered) = try await withServer(settings) { server in
                let silent = try server.connect(timeout: .seconds(5))
                let dripper = try server.connect(timeout: .milliseconds(100))
                let start = ContinuousClock.now
                var dripClosed = false
                for byte in "GET /healthz-with-a-very-long-request-line-sent-one-byte-at-a-time".utf8 where !dripClosed
                {
                    _ = try? await dripper.io { try $0.send(Data([byte])) }
                    dripClosed = try await dripper.io { $0.serverCloses() }
                }
                let dripElapsed = ContinuousClock.now - start
                let silentOpen = try await silent.io { $0.isOpenAndSilent }
                let reply = try await silent.io { client in
                    try client.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                    return try client.readResponse()
                }
                return (
                    dripClosed && dripElapsed >= .milliseconds(900) && dripElapsed < .seconds(4), silentOpen,
                    reply.status
                )
            }

            #expect(dripping)
            #expect(silentAfter, "a connection that sent nothing is kept past the header timeout")
            #expect(answered == 200)
        }

        @Test func aRequestAnsweredAtOnceKeepsItsConnectionAliveAndIsNotClosedAsSlow() async throws {
            let settings = testSettings {
                $0.headerTimeout = .seconds(1)
                $0.idleTimeout = .seconds(30)
            }
            let statuses = try await withServer(settings) { server in
                let client = try server.connect(timeout: .seconds(5))
                return try await client.io { client -> [Int] in
                    var statuses: [Int] = []
                    for _ in 0..<2 {
                        try client.send("GET /at-once HTTP/1.1\r\nHost: test\r\n\r\n")
                        statuses.append(try client.readResponse().status)
                        Thread.sleep(forTimeInterval: 1.6)  // past the header timeout, within the idle one
                    }
                    try client.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                    statuses.append(try client.readResponse().status)
                    return statuses
                }
            }

            #expect(statuses == [200, 200, 200])
        }

        @Test func aKeptAliveConnectionIsClosedAfterTheIdleTimeout() async throws {
            let settings = testSettings { $0.idleTimeout = .seconds(1) }
            let keptAlive = try await withServer(settings) { server in
                let keptAlive = try server.connect(timeout: .seconds(4))
                let first = try await keptAlive.io { client in
                    try client.send("GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
                    return try client.readResponse()
                }
                #expect(first.status == 200)
                return try await keptAlive.io { $0.serverCloses() }
            }

            #expect(keptAlive)
        }
    }
}
