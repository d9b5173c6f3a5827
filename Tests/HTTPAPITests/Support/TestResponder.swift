import Foundation
import HTTPAPI
import PipelineCore
import Synchronization

/// Things that happened in the test responder, which tests await instead of sleeping.
final class Events: Sendable {
    private struct State {
        var seen: [String] = []
        var times: [String: ContinuousClock.Instant] = [:]
        var waiters: [UUID: (name: String, continuation: CheckedContinuation<Void, Never>)] = [:]
    }

    private let state = Mutex(State())

    /// Records `name` and wakes whoever waits for it.
    func record(_ name: String) {
        let woken = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.seen.append(name)
            state.times[name] = .now
            let matching = state.waiters.filter { $0.value.name == name }
            for id in matching.keys { state.waiters[id] = nil }
            return matching.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// How often `name` was recorded.
    func count(_ name: String) -> Int { self.state.withLock { $0.seen.filter { $0 == name }.count } }

    /// Every name recorded, in order.
    var all: [String] { self.state.withLock { $0.seen } }

    /// When `name` was last recorded.
    func time(_ name: String) -> ContinuousClock.Instant? { self.state.withLock { $0.times[name] } }

    /// Returns once `name` has been recorded (at once if it was), or when the task is cancelled.
    func wait(for name: String) async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { state -> Bool in
                    if state.seen.contains(name) || Task.isCancelled { return true }
                    state.waiters[id] = (name, continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume()
        }
    }
}

/// The routes the tests drive; every interesting moment is recorded in ``events``.
///
/// - `GET /healthz`: `{"ok":true}`.
/// - `/echo` (any method): method, path, query, the `X-Test` header and what the body was.
/// - `/sleep?ms=N`: sleeps, records `sleep-started` and `sleep-cancelled` or `sleep-finished`.
/// - `/stream?chunks=N&ms=M`: N chunks M ms apart; records `produced-i` when chunk i is made and
///   `stream-cancelled` if cancelled.
/// - `/gate`: one chunk, then waits for the test to record `open`, then one more chunk.
/// - `/broken`: one chunk, then the stream throws.
/// - `/flood?chunks=N`: N chunks of 64 KiB as fast as the server takes them; counts them in ``flooded``.
/// - `/file?path=P`: the file at P; `/bad-status`, `/bad-header`: responses the server cannot send.
/// - `/private`: refused in `admit` with 401.
/// - Rejections under `/v1/` use OpenAI's error shape, others the default.
struct TestResponder: HTTPResponder {
    let events = Events()
    /// Chunks `/flood` has produced so far.
    let flooded = LockedValue(0)
    /// Requests being answered now, and the most at once.
    let concurrency = LockedValue((now: 0, most: 0))

    func admit(_ head: HTTPRequestHead) -> HTTPServerResponse? {
        self.events.record("admit \(head.path)")
        if head.path == "/private" {
            return .json(.object(["detail": .string("unauthorized")]), status: 401)
        }
        return nil
    }

    func respondAtOnce(to head: HTTPRequestHead) -> HTTPServerResponse? {
        guard head.path == "/at-once" else { return nil }
        self.events.record("at once \(head.path)")
        return .json(.object(["ok": .bool(true)]))
    }

    func respond(to request: HTTPServerRequest) async -> HTTPServerResponse {
        self.concurrency.withLock { value in
            value.now += 1
            value.most = max(value.most, value.now)
        }
        defer { self.concurrency.withLock { $0.now -= 1 } }
        let head = request.head
        switch head.path {
        case "/healthz":
            return .json(.object(["ok": .bool(true)]))
        case "/echo":
            return self.echo(request)
        case "/sleep":
            return await self.sleep(milliseconds: Int(head.queryValue("ms") ?? "") ?? 100)
        case "/stream":
            return self.stream(
                chunks: Int(head.queryValue("chunks") ?? "") ?? 3, every: Int(head.queryValue("ms") ?? "") ?? 50)
        case "/gate":
            return self.gate()
        case "/broken":
            return self.broken()
        case "/file":
            return HTTPServerResponse(
                status: 200, headers: [("Content-Type", "application/octet-stream")],
                body: .file(URL(fileURLWithPath: head.queryValue("path") ?? "/nonexistent")))
        case "/bad-status":
            return HTTPServerResponse(status: 42)
        case "/bad-header":
            return HTTPServerResponse(status: 200, headers: [("X-Bad", "one\r\nInjected: yes")])
        case "/flood":
            return self.flood(chunks: Int(head.queryValue("chunks") ?? "") ?? 16)
        default:
            return .json(.object(["detail": .string("Not Found")]), status: 404)
        }
    }

    func rejectionResponse(_ rejection: HTTPRejection, head: HTTPRequestHead?) -> HTTPServerResponse {
        self.events.record("rejected \(rejection.status)")
        guard let head, head.path.hasPrefix("/v1/") else { return rejection.defaultResponse }
        return .json(
            .object([
                "error": .object(["message": .string(rejection.message), "type": .string("invalid_request_error")])
            ]),
            status: rejection.status)
    }

    private func echo(_ request: HTTPServerRequest) -> HTTPServerResponse {
        var body: [String: JSONValue] = [
            "method": .string(request.head.method),
            "path": .string(request.head.path),
            "query": .array(request.head.query.map { .array([.string($0.name), .string($0.value)]) }),
            "header": .string(request.head.headers.first("x-test") ?? ""),
            "headers": .number(Double(request.head.headers.all("X-Repeat").count)),
            "remote": .string(request.head.remoteAddress),
            "bytes": .number(Double(request.body.count)),
        ]
        switch request.body {
        case .empty:
            body["kind"] = .string("empty")
        case .memory:
            body["kind"] = .string("memory")
        case .file(let url, _):
            body["kind"] = .string("file")
            body["file"] = .string(url.path)
            body["exists"] = .bool(FileManager.default.fileExists(atPath: url.path))
            self.events.record("file \(url.path)")
        }
        return .json(.object(body), headers: [("X-Echo", "yes")])
    }

    private func sleep(milliseconds: Int) async -> HTTPServerResponse {
        self.events.record("sleep-started")
        do {
            try await Task.sleep(for: .milliseconds(milliseconds))
        } catch {
            self.events.record("sleep-cancelled")
            return .json(.object(["detail": .string("cancelled")]), status: 499)
        }
        self.events.record("sleep-finished")
        return .json(.object(["slept": .number(Double(milliseconds))]))
    }

    private func stream(chunks: Int, every milliseconds: Int) -> HTTPServerResponse {
        let next = LockedValue(0)
        let events = self.events
        let stream = AsyncThrowingStream<Data, any Error> {
            let index = next.withLock { value -> Int in
                defer { value += 1 }
                return value
            }
            guard index < chunks else {
                events.record("stream-finished")
                return nil
            }
            do {
                try await Task.sleep(for: .milliseconds(milliseconds))
            } catch {
                events.record("stream-cancelled")
                throw error
            }
            events.record("produced-\(index)")
            return Data("chunk \(index)\n".utf8)
        }
        return HTTPServerResponse(
            status: 200, headers: [("Content-Type", "text/plain")], body: .stream(stream))
    }

    private func gate() -> HTTPServerResponse {
        let next = LockedValue(0)
        let events = self.events
        let stream = AsyncThrowingStream<Data, any Error> {
            let index = next.withLock { value -> Int in
                defer { value += 1 }
                return value
            }
            switch index {
            case 0:
                return Data("first\n".utf8)
            case 1:
                events.record("gate-waiting")
                await events.wait(for: "open")
                return Data("second\n".utf8)
            default:
                return nil
            }
        }
        return HTTPServerResponse(status: 200, body: .stream(stream))
    }

    private func broken() -> HTTPServerResponse {
        struct Broken: Error {}
        let next = LockedValue(0)
        let stream = AsyncThrowingStream<Data, any Error> {
            let index = next.withLock { value -> Int in
                defer { value += 1 }
                return value
            }
            guard index == 0 else { throw Broken() }
            return Data("partial\n".utf8)
        }
        return HTTPServerResponse(status: 200, body: .stream(stream))
    }

    private func flood(chunks: Int) -> HTTPServerResponse {
        let flooded = self.flooded
        let block = Data(repeating: UInt8(ascii: "f"), count: 64 << 10)
        let stream = AsyncThrowingStream<Data, any Error> {
            let index = flooded.withLock { value -> Int in
                defer { value += 1 }
                return value
            }
            return index < chunks ? block : nil
        }
        return HTTPServerResponse(status: 200, body: .stream(stream))
    }
}
