internal import CMicroHTTPD
import Foundation
import Synchronization

/// One request on one connection, from its request line to libmicrohttpd's notice that it is over.
///
/// libmicrohttpd's threads (the access handler, the content reader, the completion notice), the request's child
/// task and the sweeper meet here. Every transition happens under one lock, and the `MHD_Connection` pointer is
/// only used under it: suspended from libmicrohttpd's thread (the only place `MHD_suspend_connection` may be
/// called), resumed from any thread, and resumed only while suspended, each suspension exactly once.
final class Exchange: Sendable {
    /// What the handler does with the connection once the child task has answered.
    enum Reply: Sendable {
        /// Queue this response.
        case response(PreparedResponse)
        /// Close the connection without a response (the client is gone).
        case close
    }

    /// What the access handler should do on its current call.
    enum Step {
        /// The headers are in: decide whether to read the body.
        case admit
        /// Store the body bytes of this call.
        case store
        /// Drop the body bytes of this call (a rejection was already written).
        case drop
        /// The body is complete: hand the request to a child task.
        case submit
        /// Queue this reply.
        case queue(Reply)
        /// Close the connection.
        case close
        /// Nothing to do (libmicrohttpd calls again later).
        case wait
    }

    /// A body that stopped being read because it broke a limit: the rejection to write, and the head, if any.
    struct Refusal: Sendable {
        var rejection: HTTPRejection
        var head: HTTPRequestHead?
    }

    private enum Stage {
        case head
        case answered
        case receiving
        case discarding(until: ContinuousClock.Instant)
        case submitted
        case claimed
        case ready(Reply)
        case sending
        case completed
    }

    private enum StreamEnd {
        case finished
        case failed
    }

    private struct State {
        var connection: ConnectionHandle
        var stage = Stage.head
        var head: HTTPRequestHead?
        var bodyDeadline = ContinuousClock.now
        var memory = Data()
        var file: ScratchFile?
        var fileURL: URL?
        var bodyBytes: Int64 = 0
        var request: HTTPServerRequest?
        var admitted = false
        var hasChild = false
        var suspended = false
        var suspensions: UInt64 = 0
        var clientGone = false
        var completed = false
        var goneWaiter: CheckedContinuation<Void, Never>?
        var goneWaitCancelled = false
        var completionWaiter: CheckedContinuation<Void, Never>?
        var completionWaitCancelled = false
        var chunks: [Data] = []
        var chunkOffset = 0
        var bufferedBytes = 0
        var streamEnd: StreamEnd?
        var waitingForData = false
        var pushWaiter: CheckedContinuation<Bool, Never>?
        var pushCancelled = false

        /// Resumes the connection if it is suspended.
        mutating func resume() {
            guard self.suspended else { return }
            self.suspended = false
            self.waitingForData = false
            MHD_resume_connection(self.connection.pointer)
        }

        /// Stops storing the body: the rest is dropped until `lingerUntil`, and the caller writes the rejection.
        mutating func refuse(_ rejection: HTTPRejection, lingerUntil: ContinuousClock.Instant) -> Refusal {
            self.stage = .discarding(until: lingerUntil)
            self.memory = Data()
            self.file = nil
            return Refusal(rejection: rejection, head: self.head)
        }

        /// Suspends the connection; only on libmicrohttpd's thread, from the handler or the content reader.
        mutating func suspend() {
            MHD_suspend_connection(self.connection.pointer)
            self.suspended = true
            self.suspensions += 1
        }
    }

    /// Bytes of a streamed response buffered ahead of the client before the producer waits.
    static let streamHighWater = 256 << 10
    /// The buffered level at which a waiting producer continues.
    static let streamLowWater = 64 << 10

    /// The connection (in the engine's registry) this exchange is on.
    let connectionID: UInt64
    private let state: Mutex<State>
    private let counter: ExchangeCounter

    /// Creates the exchange when libmicrohttpd has the request line of `connection`; `counter` counts it while
    /// it is allocated.
    init(connectionID: UInt64, connection: OpaquePointer, counter: ExchangeCounter) {
        self.connectionID = connectionID
        self.state = Mutex(State(connection: ConnectionHandle(connection)))
        self.counter = counter
        counter.add(1)
    }

    deinit {
        self.counter.add(-1)
    }

    /// The request head, once it is in.
    var head: HTTPRequestHead? { self.state.withLock { $0.head } }

    // MARK: - The access handler (libmicrohttpd's thread)

    /// Decides what the handler does on this call, and moves a ready reply to sending.
    func step(hasData: Bool, now: ContinuousClock.Instant) -> Step {
        self.state.withLock { state in
            switch state.stage {
            case .head:
                return .admit
            case .receiving:
                return hasData ? .store : .submit
            case .discarding(let until):
                return hasData && now < until ? .drop : .close
            case .ready(let reply):
                state.stage = .sending
                return .queue(reply)
            case .answered, .submitted, .claimed, .sending, .completed:
                return .wait
            }
        }
    }

    /// Records that the server answered the request itself (before its body, or at shutdown).
    func answer(head: HTTPRequestHead? = nil) {
        self.state.withLock { state in
            if let head { state.head = head }
            state.stage = .answered
        }
    }

    /// Starts reading the body; `file` is where it goes when its declared length is too large for memory.
    func beginBody(head: HTTPRequestHead, deadline: ContinuousClock.Instant, file: ScratchFile?) {
        self.state.withLock { state in
            state.head = head
            state.stage = .receiving
            state.admitted = true
            state.bodyDeadline = deadline
            state.file = file
            state.fileURL = file?.url
        }
    }

    /// Stores one call's body bytes, or refuses them: past the body deadline, over the size limit, or when they
    /// cannot be written. A refusal moves the exchange to discarding until `lingerUntil`; the caller writes the
    /// rejection. Only the access handler stores, one call at a time, so the bytes are written outside the lock.
    func store(
        _ bytes: UnsafeRawPointer, count: Int, limits: HTTPServerSettings, now: ContinuousClock.Instant,
        lingerUntil: ContinuousClock.Instant
    ) -> Refusal? {
        enum Target {
            case none
            case refused(Refusal)
            case memory
            case file(ScratchFile)
            case newFile(moving: Data)
        }
        let target = self.state.withLock { state -> Target in
            guard case .receiving = state.stage else { return .none }
            if now > state.bodyDeadline {
                return .refused(state.refuse(.bodyTimeout(limits.bodyTimeout), lingerUntil: lingerUntil))
            }
            state.bodyBytes += Int64(count)
            if state.bodyBytes > limits.maxBodyBytes {
                return .refused(state.refuse(.bodyTooLarge(maxBytes: limits.maxBodyBytes), lingerUntil: lingerUntil))
            }
            if let file = state.file { return .file(file) }
            guard state.memory.count + count > limits.memoryBodyBytes else { return .memory }
            // Past the memory threshold the body moves to a file, and stays there.
            defer { state.memory = Data() }
            return .newFile(moving: state.memory)
        }
        do throws(HTTPRejection) {
            switch target {
            case .none:
                return nil
            case .refused(let refusal):
                return refusal
            case .memory:
                let data = Data(bytes: bytes, count: count)
                self.state.withLock { $0.memory.append(data) }
            case .file(let file):
                try file.write(bytes, count: count)
            case .newFile(let buffered):
                let file = try ScratchFile(in: limits.scratchDirectory)
                let kept = self.state.withLock { state -> Bool in
                    guard case .receiving = state.stage else { return false }
                    state.file = file
                    state.fileURL = file.url
                    return true
                }
                guard kept else {
                    unlink(file.url.path)
                    return nil
                }
                let moved = buffered.withUnsafeBytes { buffer -> Result<Void, HTTPRejection> in
                    guard let base = buffer.baseAddress else { return .success(()) }
                    return Result { () throws(HTTPRejection) in try file.write(base, count: buffer.count) }
                }
                try moved.get()
                try file.write(bytes, count: count)
            }
            return nil
        } catch {
            return self.state.withLock { state -> Refusal? in
                guard case .receiving = state.stage else { return nil }
                return state.refuse(error, lingerUntil: lingerUntil)
            }
        }
    }

    /// The body is complete: closes its file, suspends the connection and returns the request for a child task.
    func submit() -> HTTPServerRequest? {
        self.state.withLock { state -> HTTPServerRequest? in
            guard case .receiving = state.stage, let head = state.head else { return nil }
            let body: HTTPRequestBody
            if let url = state.fileURL {
                state.file = nil
                body = .file(url, bytes: state.bodyBytes)
            } else if state.memory.isEmpty {
                body = .empty
            } else {
                body = .memory(state.memory)
            }
            state.memory = Data()
            state.request = HTTPServerRequest(head: head, body: body)
            state.suspend()
            state.stage = .submitted
            return state.request
        }
    }

    /// Gives up a submitted exchange no child took (the intake closed): `reply` goes out instead.
    func abandon(with reply: Reply) {
        self.state.withLock { state in
            guard case .submitted = state.stage else { return }
            state.request = nil
            state.stage = .ready(reply)
            state.resume()
        }
    }

    // MARK: - The child task

    /// Takes a submitted request for answering; nil if it was abandoned.
    func claim() -> HTTPServerRequest? {
        self.state.withLock { state -> HTTPServerRequest? in
            guard case .submitted = state.stage else { return nil }
            state.stage = .claimed
            state.hasChild = true
            defer { state.request = nil }
            return state.request
        }
    }

    /// Hands the child's answer to the connection and resumes it; false if the client is gone or it was settled.
    func deliver(_ response: PreparedResponse) -> Bool {
        self.state.withLock { state -> Bool in
            guard case .claimed = state.stage else { return false }
            state.stage = .ready(state.clientGone ? .close : .response(response))
            state.resume()
            return !state.clientGone
        }
    }

    /// After the child's work ended, however it ended: a request still without an answer gets `fallback` (or is
    /// closed if its client is gone), and a stream that did not finish is failed, so nothing stays suspended.
    func settle(fallback: PreparedResponse) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
            switch state.stage {
            case .claimed:
                state.stage = .ready(state.clientGone ? .close : .response(fallback))
            case .ready, .sending:
                if state.streamEnd == nil { state.streamEnd = .failed }
            default:
                break
            }
            state.resume()
            defer { state.pushWaiter = nil }
            return state.pushWaiter
        }
        waiter?.resume(returning: false)
    }

    /// Returns when the client is known to be gone (a failed write, a reset, a hang-up), when libmicrohttpd is done
    /// with the exchange, or when cancelled.
    func waitUntilClientGone() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { state -> Bool in
                    if state.clientGone || state.completed || state.goneWaitCancelled { return true }
                    state.goneWaiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.goneWaitCancelled = true
                defer { state.goneWaiter = nil }
                return state.goneWaiter
            }
            waiter?.resume()
        }
    }

    /// Returns when libmicrohttpd reports the exchange over, or when cancelled.
    func waitUntilCompleted() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { state -> Bool in
                    if state.completed || state.completionWaitCancelled { return true }
                    state.completionWaiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.completionWaitCancelled = true
                defer { state.completionWaiter = nil }
                return state.completionWaiter
            }
            waiter?.resume()
        }
    }

    // MARK: - The streamed response

    /// Adds a chunk for the client; waits while too much is buffered. False once the client is gone or the
    /// exchange is over, so the producer stops.
    func push(_ chunk: Data) async -> Bool {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let answer = self.state.withLock { state -> Bool? in
                    if state.completed || state.clientGone || state.streamEnd != nil || state.pushCancelled {
                        return false
                    }
                    state.chunks.append(chunk)
                    state.bufferedBytes += chunk.count
                    if state.waitingForData { state.resume() }
                    if state.bufferedBytes < Self.streamHighWater { return true }
                    state.pushWaiter = continuation
                    return nil
                }
                if let answer { continuation.resume(returning: answer) }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Bool, Never>? in
                state.pushCancelled = true
                defer { state.pushWaiter = nil }
                return state.pushWaiter
            }
            waiter?.resume(returning: false)
        }
    }

    /// Ends the stream: after what is buffered, the chunked body is terminated (`failed` false) or the
    /// connection is closed without the terminating chunk (`failed` true).
    func finishStream(failed: Bool) {
        self.state.withLock { state in
            guard state.streamEnd == nil else { return }
            state.streamEnd = failed ? .failed : .finished
            if state.waitingForData { state.resume() }
        }
    }

    /// libmicrohttpd's content reader: copies buffered bytes into `buffer`, or suspends the connection until the
    /// producer adds some (returning 0, which with a suspension is how libmicrohttpd avoids busy-waiting).
    func readStream(into buffer: UnsafeMutablePointer<CChar>, capacity: Int) -> Int {
        enum Read {
            case bytes(Data, drained: CheckedContinuation<Bool, Never>?)
            case code(Int)
        }
        let read = self.state.withLock { state -> Read in
            if state.bufferedBytes > 0 {
                var piece = Data()
                piece.reserveCapacity(min(capacity, state.bufferedBytes))
                while piece.count < capacity, let chunk = state.chunks.first {
                    let start = chunk.startIndex + state.chunkOffset
                    let count = min(capacity - piece.count, chunk.count - state.chunkOffset)
                    piece.append(chunk[start..<(start + count)])
                    state.chunkOffset += count
                    if state.chunkOffset == chunk.count {
                        state.chunks.removeFirst()
                        state.chunkOffset = 0
                    }
                }
                state.bufferedBytes -= piece.count
                guard state.bufferedBytes <= Self.streamLowWater else { return .bytes(piece, drained: nil) }
                defer { state.pushWaiter = nil }
                return .bytes(piece, drained: state.pushWaiter)
            }
            switch state.streamEnd {
            case .finished: return .code(CMHD_CONTENT_READER_END_OF_STREAM)
            case .failed: return .code(CMHD_CONTENT_READER_END_WITH_ERROR)
            case nil: break
            }
            if state.completed { return .code(CMHD_CONTENT_READER_END_WITH_ERROR) }
            state.suspend()
            state.waitingForData = true
            return .code(0)
        }
        switch read {
        case .bytes(let piece, let drained):
            piece.withUnsafeBytes { bytes in
                UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            }
            drained?.resume(returning: true)
            return piece.count
        case .code(let code):
            return code
        }
    }

    // MARK: - The sweeper

    /// The current suspension's number while the connection is suspended (libmicrohttpd does not watch it then).
    var suspension: UInt64? {
        self.state.withLock { $0.suspended ? $0.suspensions : nil }
    }

    /// Marks the client gone if suspension `number` is still the current one: the child task is cancelled.
    func markClientGone(suspension number: UInt64) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.suspended, state.suspensions == number else { return nil }
            state.clientGone = true
            defer { state.goneWaiter = nil }
            return state.goneWaiter
        }
        waiter?.resume()
    }

    /// Refuses a body whose deadline passed while no bytes came (a stalled client); the caller writes the 408.
    func expireBody(now: ContinuousClock.Instant, lingerUntil: ContinuousClock.Instant, timeout: Duration)
        -> Refusal?
    {
        self.state.withLock { state -> Refusal? in
            guard case .receiving = state.stage, now > state.bodyDeadline else { return nil }
            return state.refuse(.bodyTimeout(timeout), lingerUntil: lingerUntil)
        }
    }

    /// Whether a reply is queued or about to be, and not yet finished.
    var isReplying: Bool {
        self.state.withLock { state in
            switch state.stage {
            case .ready, .sending: true
            default: false
            }
        }
    }

    // MARK: - The completion notice (libmicrohttpd's thread)

    /// libmicrohttpd is done with the exchange; `clientGone` when it ended in error (a failed write, a timeout, a
    /// reset, shutdown). Returns whether it was counted in flight and whether a child task owns its cleanup.
    func complete(clientGone: Bool) -> (admitted: Bool, hasChild: Bool) {
        var waiters: [CheckedContinuation<Void, Never>] = []
        var pusher: CheckedContinuation<Bool, Never>?
        let result = self.state.withLock { state -> (Bool, Bool) in
            state.stage = .completed
            state.completed = true
            state.suspended = false
            if clientGone { state.clientGone = true }
            // The watcher for the client's departure ends too: its child task has nothing left to watch.
            if let waiter = state.goneWaiter { waiters.append(waiter) }
            if let waiter = state.completionWaiter { waiters.append(waiter) }
            state.goneWaiter = nil
            state.completionWaiter = nil
            pusher = state.pushWaiter
            state.pushWaiter = nil
            state.chunks = []
            state.bufferedBytes = 0
            state.memory = Data()
            state.file = nil
            return (state.admitted, state.hasChild)
        }
        for waiter in waiters { waiter.resume() }
        pusher?.resume(returning: false)
        return result
    }

    /// Deletes the body's scratch file, if there is one; idempotent.
    func releaseBody() {
        let url = self.state.withLock { state -> URL? in
            state.file = nil
            defer { state.fileURL = nil }
            return state.fileURL
        }
        if let url { unlink(url.path) }
    }
}
