internal import CMicroHTTPD
import Foundation
import PipelineCore
import Synchronization

/// What libmicrohttpd's callbacks talk to: the open connections, their exchanges, the limits, and the hand-off of
/// complete requests to ``HTTPServer/run()``.
///
/// Lock order: the engine's lock may be held while an exchange's is taken, never the reverse. A connection's
/// socket is only touched from outside libmicrohttpd under the engine's lock while the connection is registered:
/// libmicrohttpd reports the close (``connectionClosed(_:)``) before it closes the descriptor.
final class ServerEngine: Sendable {
    /// How long a rejected body is still read (and dropped) after the rejection was written, so the client can
    /// read the answer before the connection closes.
    static let lingerTime = Duration.seconds(2)

    let settings: HTTPServerSettings
    let responder: any HTTPResponder
    let logger: Logger
    /// How many exchanges are allocated.
    let exchanges = ExchangeCounter()
    private let intake: AsyncStream<Exchange>.Continuation
    private let state = Mutex(State())
    private let startupMessages = Mutex<[String]?>(nil)

    private enum Phase {
        /// Waiting for a request line, on a new connection or one kept alive after a response: it may idle, sending
        /// nothing, for the idle timeout. libmicrohttpd reports nothing before a whole request line, so the sweeper
        /// watches the socket's received-byte count (`received`, as it was when the wait began): once it grows, the
        /// request has begun (`begun`, as the sweeper first saw it), and its head has the header timeout from then,
        /// as nginx's client_header_timeout has, so a request line dripped a byte at a time is closed. (A stray CRLF
        /// after a response counts as a beginning too: such a client gets the header timeout, not the idle one.)
        case waiting(since: ContinuousClock.Instant, received: Int64, begun: ContinuousClock.Instant?)
        /// The request line is in, the headers are not.
        case head(since: ContinuousClock.Instant)
        /// A request is past its head.
        case busy
        /// The sweeper shut the socket; libmicrohttpd is closing it.
        case closing
    }

    private struct Connection {
        let descriptor: Int32
        var phase: Phase
        var exchange: Exchange?
    }

    private struct State {
        var connections: [UInt64: Connection] = [:]
        var nextConnectionID: UInt64 = 1
        var draining = false
        var closed = false
        var inFlight = 0
        var drainWaiter: CheckedContinuation<Void, Never>?
        var drainWaitCancelled = false
    }

    /// Creates the engine; complete requests are yielded to `intake`.
    init(
        settings: HTTPServerSettings, responder: any HTTPResponder, logger: Logger,
        intake: AsyncStream<Exchange>.Continuation
    ) {
        self.settings = settings
        self.responder = responder
        self.logger = logger
        self.intake = intake
    }

    // MARK: - Connections (libmicrohttpd's threads)

    /// Connections registered now.
    var openConnections: Int { self.state.withLock { $0.connections.count } }

    /// A connection was accepted: registers it and stores its id in libmicrohttpd's socket context.
    func connectionStarted(_ connection: OpaquePointer, context: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) {
        let descriptor = cmhd_connection_fd(connection)
        let id = self.state.withLock { state -> UInt64 in
            let id = state.nextConnectionID
            state.nextConnectionID += 1
            state.connections[id] = Connection(
                descriptor: descriptor, phase: .waiting(since: .now, received: 0, begun: nil))
            return id
        }
        context?.pointee = UnsafeMutableRawPointer(bitPattern: UInt(id))
    }

    /// A connection is about to be closed (its descriptor is still open): forgets it.
    func connectionClosed(_ context: UnsafeMutablePointer<UnsafeMutableRawPointer?>?) {
        guard let id = context?.pointee.map({ UInt64(UInt(bitPattern: $0)) }) else { return }
        context?.pointee = nil
        self.state.withLock { _ = $0.connections.removeValue(forKey: id) }
    }

    /// A request line arrived: creates its exchange, returned retained as libmicrohttpd's request context.
    func requestLineReceived(on connection: OpaquePointer) -> UnsafeMutableRawPointer {
        let raw = cmhd_connection_socket_context(connection)
        let id = raw.map { UInt64(UInt(bitPattern: $0)) } ?? 0
        let exchange = Exchange(connectionID: id, connection: connection, counter: self.exchanges)
        self.state.withLock { state in
            // The head is timed from the first bytes of the request when the sweeper saw them arrive.
            if case .waiting(_, _, begun: let begun?) = state.connections[id]?.phase {
                state.connections[id]?.phase = .head(since: begun)
            } else {
                state.connections[id]?.phase = .head(since: .now)
            }
            state.connections[id]?.exchange = exchange
        }
        return Unmanaged.passRetained(exchange).toOpaque()
    }

    /// libmicrohttpd is done with a request (sent, failed, timed out, or shut down): releases its exchange.
    func requestCompleted(
        _ context: UnsafeMutablePointer<UnsafeMutableRawPointer?>?, code: MHD_RequestTerminationCode
    ) {
        guard let raw = context?.pointee else { return }
        context?.pointee = nil
        let exchange = Unmanaged<Exchange>.fromOpaque(raw).takeRetainedValue()
        let (admitted, hasChild) = exchange.complete(clientGone: code != .REQUEST_TERMINATED_COMPLETED_OK)
        if !hasChild {
            exchange.releaseBody()
        }
        let drained = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
            if let connection = state.connections[exchange.connectionID], connection.exchange === exchange {
                state.connections[exchange.connectionID]?.exchange = nil
                // Answered at its head (a 401, a 404, /healthz) or after its body: either way the connection now
                // waits for its next request. (A head answered at once used to stay in `.head` and be closed as slow.)
                switch connection.phase {
                case .head, .busy:
                    state.connections[exchange.connectionID]?.phase = .waiting(
                        since: .now, received: cmhd_socket_bytes_received(connection.descriptor), begun: nil)
                case .waiting, .closing:
                    break
                }
            }
            if admitted { state.inFlight -= 1 }
            guard state.draining, state.inFlight == 0 else { return nil }
            defer { state.drainWaiter = nil }
            return state.drainWaiter
        }
        drained?.resume()
    }

    // MARK: - The access handler (libmicrohttpd's threads)

    /// libmicrohttpd's access handler: admits the head, stores the body, submits the request, queues the reply.
    func handle(
        _ connection: OpaquePointer, exchange: Exchange, url: String, method: String,
        upload: UnsafePointer<CChar>?, uploadSize: UnsafeMutablePointer<Int>
    ) -> MHD_Result {
        let now = ContinuousClock.now
        switch exchange.step(hasData: uploadSize.pointee > 0, now: now) {
        case .admit:
            return self.admit(exchange, on: connection, head: self.readHead(connection, url: url, method: method))
        case .store:
            let count = uploadSize.pointee
            uploadSize.pointee = 0
            guard let upload else { return .YES }
            if let refusal = exchange.store(
                upload, count: count, limits: self.settings, now: now, lingerUntil: now + Self.lingerTime)
            {
                self.writeRefusal(refusal, to: cmhd_connection_fd(connection))
            }
            return .YES
        case .drop:
            uploadSize.pointee = 0
            return .YES
        case .submit:
            return self.submit(exchange, on: connection)
        case .queue(.response(let response)):
            return self.queue(response, on: connection, exchange: exchange)
        case .queue(.close), .close:
            return .NO
        case .wait:
            return .YES
        }
    }

    private func readHead(_ connection: OpaquePointer, url: String, method: String) -> HTTPRequestHead {
        let headers = HTTPFields(Self.values(of: connection, kind: .HEADER_KIND))
        let query = Self.values(of: connection, kind: .GET_ARGUMENT_KIND).map { (name: $0.0, value: $0.1) }
        let length =
            headers.first("Transfer-Encoding") == nil ? headers.first("Content-Length").flatMap { Int64($0) } : nil
        return HTTPRequestHead(
            method: method, path: url, query: query, headers: headers,
            remoteAddress: ListenAddress.describe(cmhd_connection_address(connection)), contentLength: length)
    }

    private static func values(of connection: OpaquePointer, kind: MHD_ValueKind) -> [(String, String)] {
        var values: [(String, String)] = []
        withUnsafeMutablePointer(to: &values) { pointer in
            _ = MHD_get_connection_values_n(
                connection, kind,
                { context, _, key, keyLength, value, valueLength in
                    guard let context else { return .NO }
                    let values = context.assumingMemoryBound(to: [(String, String)].self)
                    values.pointee.append((ServerEngine.text(key, keyLength), ServerEngine.text(value, valueLength)))
                    return .YES
                }, pointer)
        }
        return values
    }

    private static func text(_ bytes: UnsafePointer<CChar>?, _ count: Int) -> String {
        guard let bytes else { return "" }
        return bytes.withMemoryRebound(to: UInt8.self, capacity: count) {
            String(decoding: UnsafeBufferPointer(start: $0, count: count), as: UTF8.self)
        }
    }

    private func admit(_ exchange: Exchange, on connection: OpaquePointer, head: HTTPRequestHead) -> MHD_Result {
        if let rejection = self.rejection(of: head, headerBytes: cmhd_connection_header_size(connection)) {
            exchange.answer(head: head)
            return self.queue(self.rejectionResponse(rejection, head: head), on: connection, exchange: exchange)
        }
        if let response = self.responder.admit(head) {
            exchange.answer(head: head)
            return self.queue(
                self.checked(response, head: head, streamAllowed: false), on: connection, exchange: exchange)
        }
        let file: ScratchFile?
        do throws(HTTPRejection) {
            let large = (head.contentLength ?? 0) > Int64(self.settings.memoryBodyBytes)
            file = large ? try ScratchFile(in: self.settings.scratchDirectory) : nil
        } catch {
            exchange.answer(head: head)
            return self.queue(self.rejectionResponse(error, head: head), on: connection, exchange: exchange)
        }
        let admitted = self.state.withLock { state -> Bool in
            guard !state.draining else { return false }
            state.inFlight += 1
            state.connections[exchange.connectionID]?.phase = .busy
            return true
        }
        guard admitted else {
            if let file { unlink(file.url.path) }
            exchange.answer(head: head)
            return self.queue(self.rejectionResponse(.shuttingDown, head: head), on: connection, exchange: exchange)
        }
        exchange.beginBody(head: head, deadline: .now + self.settings.bodyTimeout, file: file)
        return .YES
    }

    /// The rejection of a head before its body, if any; the server's own checks come before the responder's.
    private func rejection(of head: HTTPRequestHead, headerBytes: Int) -> HTTPRejection? {
        if self.isDraining {
            return .shuttingDown
        }
        if headerBytes > self.settings.maxHeaderBytes {
            return .headersTooLarge(maxBytes: self.settings.maxHeaderBytes)
        }
        // RFC 9112 §6.3: differing lengths leave the body's end in doubt (libmicrohttpd would take the first), the
        // way requests are smuggled past a proxy that takes another.
        if Set(head.headers.all("Content-Length").map { $0.trimmingCharacters(in: .whitespaces) }).count > 1 {
            return .ambiguousLength
        }
        if let encoding = head.headers.first("Transfer-Encoding") {
            // RFC 9112 §6.1: a server that sees both must not trust either; anything but chunked cannot be framed.
            if head.headers.first("Content-Length") != nil { return .ambiguousLength }
            if encoding.lowercased() != "chunked" { return .unsupportedTransferEncoding(encoding) }
        }
        if let length = head.contentLength, length > self.settings.maxBodyBytes {
            return .bodyTooLarge(maxBytes: self.settings.maxBodyBytes)
        }
        return nil
    }

    private enum SubmitOutcome {
        case submitted
        case refused
        case closed
    }

    private func submit(_ exchange: Exchange, on connection: OpaquePointer) -> MHD_Result {
        // Also while draining (the response then says `Connection: close`): the routes answer these only here.
        if let head = exchange.head, let response = self.responder.respondAtOnce(to: head) {
            exchange.answer()
            return self.queue(
                self.checked(response, head: head, streamAllowed: false), on: connection, exchange: exchange)
        }
        // Submission and closing the intake are atomic under the engine's lock, so an exchange is either in the
        // intake before it closes (and then claimed or abandoned) or answered here.
        let outcome = self.state.withLock { state -> SubmitOutcome in
            if state.closed { return .closed }
            // Nil when the sweeper refused the body just now: its rejection is on the socket already.
            guard exchange.submit() != nil else { return .refused }
            self.intake.yield(exchange)
            return .submitted
        }
        switch outcome {
        case .submitted:
            return .YES
        case .refused:
            return .NO
        case .closed:
            exchange.answer()
            return self.queue(
                self.rejectionResponse(.shuttingDown, head: exchange.head), on: connection, exchange: exchange)
        }
    }

    private func queue(_ response: PreparedResponse, on connection: OpaquePointer, exchange: Exchange) -> MHD_Result {
        do throws(HTTPRejection) {
            let object = try MHDResponse(response.body, streamingFrom: exchange)
            for (name, value) in response.headers where !object.addHeader(name, value) {
                self.logger.warning("response header refused", ["header": .string(name)])
            }
            if self.isDraining, !object.addHeader("Connection", "close") {
                self.logger.warning("response header refused", ["header": .string("Connection")])
            }
            guard object.queue(on: connection, status: response.status) else {
                self.logger.error(
                    "libmicrohttpd refused to queue a response", ["status": .number(Double(response.status))])
                return .NO
            }
            return .YES
        } catch {
            // A file that cannot be opened, or libmicrohttpd out of memory: the responder's 500 instead, once.
            self.logger.error(
                "response not sent", ["error": .string("\(error)"), "path": .string(exchange.head?.path ?? "")])
            guard case .file = response.body else { return .NO }
            return self.queue(self.rejectionResponse(error, head: exchange.head), on: connection, exchange: exchange)
        }
    }

    // MARK: - Responses

    /// The responder's answer to `rejection`, checked; the default shape if the responder's cannot be sent.
    func rejectionResponse(_ rejection: HTTPRejection, head: HTTPRequestHead?) -> PreparedResponse {
        if let prepared = try? PreparedResponse(self.responder.rejectionResponse(rejection, head: head)) {
            switch prepared.body {
            case .data, .empty: return prepared
            case .file, .stream: break
            }
        }
        return (try? PreparedResponse(rejection.defaultResponse)) ?? Self.plainError
    }

    /// `response` if the server can send it, else the responder's answer to ``HTTPRejection/invalidResponse(reason:)``.
    func checked(_ response: HTTPServerResponse, head: HTTPRequestHead?, streamAllowed: Bool) -> PreparedResponse {
        do throws(HTTPRejection) {
            let prepared = try PreparedResponse(response)
            if case .stream = prepared.body, !streamAllowed {
                throw HTTPRejection.invalidResponse(reason: "admit returned a stream")
            }
            return prepared
        } catch {
            self.logger.error("invalid response", ["reason": .string("\(error)"), "path": .string(head?.path ?? "")])
            return self.rejectionResponse(error, head: head)
        }
    }

    private static let plainError: PreparedResponse = {
        let response = HTTPServerResponse(status: 500)
        return try! PreparedResponse(response)
    }()

    /// Writes a rejection straight to the socket and shuts its sending side.
    ///
    /// libmicrohttpd 0.9.75 queues a response only before the body is read or after all of it
    /// (`MHD_queue_response` refuses other states), so a body that breaks a limit part-way is answered here:
    /// while libmicrohttpd reads a body it never writes to the socket, so these bytes are the only ones on it.
    /// libmicrohttpd then reads (and the handler drops) the rest until the client closes or the linger ends.
    private func writeRefusal(_ refusal: Exchange.Refusal, to descriptor: Int32) {
        let response = self.rejectionResponse(refusal.rejection, head: refusal.head)
        self.logger.info(
            "request body refused",
            ["reason": .string(refusal.rejection.message), "path": .string(refusal.head?.path ?? "")])
        guard let bytes = response.serialized(reason: Self.reasonPhrase(response.status)) else { return }
        RawSocket.sendAll(bytes, to: descriptor)
        RawSocket.shutdownWrite(descriptor)
    }

    private static func reasonPhrase(_ status: Int) -> String {
        guard let phrase = MHD_get_reason_phrase_for(UInt32(status)) else { return "" }
        return String(cString: phrase)
    }

    // MARK: - Request tasks

    /// Answers one submitted exchange: the child task of ``HTTPServer/run()`` for it.
    ///
    /// The responder runs beside a watcher for the client's departure; whichever ends first cancels the other.
    /// Afterwards nothing is left suspended, and the upload's scratch file is deleted once the response is done.
    func serve(_ exchange: Exchange) async {
        guard let request = exchange.claim() else { return }
        var onDone: (@Sendable () -> Void)?
        if !Task.isCancelled {
            onDone = await withTaskGroup(of: (@Sendable () -> Void)?.self) { group in
                group.addTask { await self.produce(request, on: exchange) }
                group.addTask {
                    await exchange.waitUntilClientGone()
                    return nil
                }
                // The first to end cancels the other; the response's hook comes back whichever that was.
                var hook: (@Sendable () -> Void)?
                while let result = await group.next() {
                    group.cancelAll()
                    hook = hook ?? result
                }
                return hook
            }
        }
        exchange.settle(fallback: self.rejectionResponse(.shuttingDown, head: request.head))
        await exchange.waitUntilCompleted()
        exchange.releaseBody()
        onDone?()
    }

    /// Answers `request` and sends the body; returns the response's ``HTTPServerResponse/onDone`` hook.
    private func produce(_ request: HTTPServerRequest, on exchange: Exchange) async -> (@Sendable () -> Void)? {
        let response = await self.responder.respond(to: request)
        // Cancelled (the client left, or the server is cancelled): the answer is discarded, settle() closes or 503s.
        guard !Task.isCancelled else { return response.onDone }
        let prepared = self.checked(response, head: request.head, streamAllowed: true)
        guard exchange.deliver(prepared), case .stream = prepared.body else { return response.onDone }
        do {
            switch response.body {
            case .stream(let stream):
                for try await chunk in stream where !chunk.isEmpty {
                    guard await exchange.push(chunk) else { return response.onDone }
                }
            case .writer(let produce):
                try await produce(HTTPBodyWriter { chunk in await exchange.push(chunk) })
            case .empty, .data, .file:
                return response.onDone
            }
            // A stream that ends because its consumer was cancelled did not finish: do not terminate it cleanly.
            exchange.finishStream(failed: Task.isCancelled)
        } catch {
            if !(error is CancellationError) {
                self.logger.warning(
                    "response stream failed", ["path": .string(request.head.path), "error": .string("\(error)")])
            }
            exchange.finishStream(failed: true)
        }
        return response.onDone
    }

    // MARK: - The sweeper

    /// Runs ``sweep(now:)`` every `interval` until cancelled.
    func sweep(every interval: Duration) async {
        while !Task.isCancelled {
            try? await sleepCancellably(for: interval)
            self.sweep(now: .now)
        }
    }

    /// Enforces what libmicrohttpd cannot, and watches what it does not.
    ///
    /// libmicrohttpd's timeout is an inactivity timeout, reset by every byte, so a client dripping its request line,
    /// head or body is closed here by total time; and a suspended connection is out of libmicrohttpd's poll set, so
    /// its client's hang-up (reset or full close: `POLLHUP`/`POLLERR`) is detected here and cancels the request's
    /// task. A half-close (`shutdown(SHUT_WR)` after the request) is not a hang-up: its response is still sent.
    func sweep(now: ContinuousClock.Instant) {
        var refusals: [(id: UInt64, exchange: Exchange, refusal: Exchange.Refusal)] = []
        var closed: [String] = []
        self.state.withLock { state in
            var closing: [UInt64] = []
            var watched: [(exchange: Exchange, suspension: UInt64)] = []
            var descriptors: [pollfd] = []
            for (id, connection) in state.connections {
                switch connection.phase {
                case .waiting(_, _, begun: let begun?) where now - begun > self.settings.headerTimeout:
                    closed.append("slow request line")
                    closing.append(id)
                case .waiting(let since, _, _) where now - since > self.settings.idleTimeout:
                    closed.append("no request")
                    closing.append(id)
                case .waiting(let since, let received, begun: nil):
                    let count = cmhd_socket_bytes_received(connection.descriptor)
                    if received >= 0, count > received {
                        state.connections[id]?.phase = .waiting(since: since, received: received, begun: now)
                    }
                case .head(let since) where now - since > self.settings.headerTimeout:
                    closed.append("slow head")
                    closing.append(id)
                default:
                    break
                }
                guard let exchange = connection.exchange else { continue }
                if let refusal = exchange.expireBody(
                    now: now, lingerUntil: now + Self.lingerTime, timeout: self.settings.bodyTimeout)
                {
                    refusals.append((id, exchange, refusal))
                }
                if let suspension = exchange.suspension {
                    watched.append((exchange, suspension))
                    descriptors.append(pollfd(fd: connection.descriptor, events: 0, revents: 0))
                }
            }
            for id in closing {
                if let descriptor = state.connections[id]?.descriptor { RawSocket.shutdownBoth(descriptor) }
                state.connections[id]?.phase = .closing
            }
            guard !descriptors.isEmpty, poll(&descriptors, nfds_t(descriptors.count), 0) > 0 else { return }
            for (index, descriptor) in descriptors.enumerated()
            where descriptor.revents & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
                watched[index].exchange.markClientGone(suspension: watched[index].suspension)
            }
        }
        if !closed.isEmpty {
            self.logger.info("closed slow connections", ["reasons": .array(closed.map { .string($0) })])
        }
        for entry in refusals {
            let response = self.rejectionResponse(entry.refusal.rejection, head: entry.refusal.head)
            guard let bytes = response.serialized(reason: Self.reasonPhrase(response.status)) else { continue }
            self.logger.info(
                "request body refused",
                ["reason": .string(entry.refusal.rejection.message), "path": .string(entry.refusal.head?.path ?? "")])
            self.state.withLock { state in
                guard let connection = state.connections[entry.id], connection.exchange === entry.exchange else {
                    return
                }
                RawSocket.sendAll(bytes, to: connection.descriptor)
                RawSocket.shutdownWrite(connection.descriptor)
            }
        }
    }

    // MARK: - Shutdown

    /// Whether graceful shutdown has begun.
    var isDraining: Bool { self.state.withLock { $0.draining } }

    /// Begins graceful shutdown: heads that arrive from now on are answered with 503.
    func beginDraining() {
        self.state.withLock { $0.draining = true }
    }

    /// Returns when every admitted request is done, or when cancelled.
    func waitUntilDrained() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = self.state.withLock { state -> Bool in
                    if state.inFlight == 0 || state.drainWaitCancelled { return true }
                    state.drainWaiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Void, Never>? in
                state.drainWaitCancelled = true
                defer { state.drainWaiter = nil }
                return state.drainWaiter
            }
            waiter?.resume()
        }
    }

    /// Takes no more requests: submitted ones no child took are answered with 503, and the intake ends.
    func closeIntake() {
        let exchanges = self.state.withLock { state -> [Exchange] in
            state.closed = true
            return state.connections.values.compactMap(\.exchange)
        }
        for exchange in exchanges {
            exchange.abandon(with: .response(self.rejectionResponse(.shuttingDown, head: exchange.head)))
        }
        self.intake.finish()
    }

    /// Waits, blocking, up to `limit` for replies libmicrohttpd still sends; for the final stop, off the
    /// cooperative pool.
    func waitForReplies(upTo limit: Duration) {
        let deadline = ContinuousClock.now + limit
        while ContinuousClock.now < deadline {
            let replying = self.state.withLock { state in
                state.connections.values.contains { $0.exchange?.isReplying ?? false }
            }
            guard replying else { return }
            usleep(5_000)
        }
    }

    // MARK: - libmicrohttpd's log

    /// Starts keeping libmicrohttpd's messages, to explain a failed start.
    func captureLibraryMessages() { self.startupMessages.withLock { $0 = [] } }

    /// Stops keeping messages and returns those kept.
    func capturedLibraryMessages() -> [String] {
        self.startupMessages.withLock { messages in
            defer { messages = nil }
            return messages ?? []
        }
    }

    /// A message from libmicrohttpd.
    func libraryMessage(_ message: String) {
        let kept = self.startupMessages.withLock { messages -> Bool in
            guard messages != nil else { return false }
            messages?.append(message)
            return true
        }
        if !kept {
            self.logger.log(.debug, "libmicrohttpd", ["message": .string(message)])
        }
    }
}
