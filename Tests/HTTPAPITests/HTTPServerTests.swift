import Foundation
import HTTPAPI
import PipelineCore
import Testing

/// Every HTTP server test: they run one at a time, because some measure the whole process (resident memory, CPU
/// time) and several hold hundreds of connections.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct HTTPServerTests {}

extension HTTPServerTests {
    /// Requests and responses of every method, through curl.
    @Suite struct Requests {
        @Test(arguments: ["GET", "POST", "PUT", "DELETE"])
        func methodPathQueryAndHeadersReachTheResponder(method: String) async throws {
            let body = try await withServer { server in
                try await curl([
                    "-X", method, "-H", "X-Test: hello", "-H", "X-Repeat: 1", "-H", "X-Repeat: 2",
                    "--data-binary", method == "GET" ? "" : "payload",
                    "http://127.0.0.1:\(server.port)/ec%68o?b=2&a=x+y&b=%2F&flag",
                ])
            }

            let echo = try JSONDecoder().decode(JSONValue.self, from: Data(body.utf8))
            #expect(echo["method"] == .string(method))
            #expect(echo["path"] == .string("/echo"))
            #expect(
                echo["query"]
                    == .array([
                        .array(["b", "2"].map(JSONValue.string)), .array(["a", "x y"].map(JSONValue.string)),
                        .array(["b", "/"].map(JSONValue.string)), .array(["flag", ""].map(JSONValue.string)),
                    ]))
            #expect(echo["header"] == .string("hello"))
            #expect(echo["headers"] == .number(2))
            #expect(echo["remote"] == .string("127.0.0.1"))
            #expect(echo["bytes"] == .number(method == "GET" ? 0 : 7))
            #expect(echo["kind"] == .string(method == "GET" ? "empty" : "memory"))
        }

        @Test func headGetsTheHeadersWithoutTheBody() async throws {
            let response = try await withServer { server in
                try await server.exchange(
                    "HEAD /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", bodyless: true)
            }

            #expect(response.status == 200)
            #expect(response.header("X-Echo") == "yes")
            #expect(response.header("Content-Type") == "application/json")
            #expect(Int(response.header("Content-Length") ?? "") ?? 0 > 0)
            #expect(response.body.isEmpty)
        }

        @Test func headOfAStreamGetsItsHeadersAndTheStreamIsLetGo() async throws {
            let (response, after) = try await withServer { server in
                let response = try await server.exchange(
                    "HEAD /stream?chunks=1000&ms=10 HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n",
                    bodyless: true)
                return (response, try await server.get("/healthz"))
            }

            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "text/plain")
            #expect(after.status == 200)
        }

        @Test func filesAreSentAndUnsendableResponsesBecome500() async throws {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("served-\(UUID())")
            defer { try? FileManager.default.removeItem(at: file) }
            let content = Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0) })
            try content.write(to: file)

            let (served, missing, badStatus, badHeader) = try await withServer { server in
                (
                    try await server.get("/file?path=\(file.path)"), try await server.get("/file?path=/nonexistent"),
                    try await server.get("/bad-status"), try await server.get("/bad-header")
                )
            }

            #expect(served.status == 200)
            #expect(served.body == content)
            #expect(served.header("Content-Length") == "300000")
            #expect(missing.status == 500)
            #expect(badStatus.status == 500)
            #expect(badHeader.status == 500)
            #expect(badHeader.header("Injected") == nil)
        }

        @Test func unknownRouteAndAdmitRefusalAreAnswered() async throws {
            let (missing, refused, events) = try await withServer { server in
                let missing = try await server.get("/nowhere")
                let refused = try await server.exchange(
                    "POST /private HTTP/1.1\r\nHost: test\r\nContent-Length: 1000000\r\nExpect: 100-continue\r\n\r\n")
                return (missing, refused, server.events.all)
            }

            #expect(missing.status == 404)
            #expect(refused.status == 401)
            #expect(refused.json["detail"] == .string("unauthorized"))
            #expect(events.contains("admit /private"))
        }
    }
}
