internal import CMicroHTTPD
import Foundation
import Synchronization

/// The running libmicrohttpd daemon: the one owner of its `MHD_Daemon`, of the listening socket once quiesced, and of
/// the reference to the ``ServerEngine`` its callbacks use.
///
/// libmicrohttpd binds and starts its threads in `init`; ``stop()`` (or `deinit`) stops them, closes every
/// connection and releases the engine. No connection may be suspended when it stops (libmicrohttpd panics).
final class MHDDaemon: Sendable {
    /// The port the daemon is bound to.
    let port: Int
    private let state: Mutex<State>

    private struct State {
        var daemon: OpaquePointer?
        var quiescedSocket: Int32?
        var engine: Unmanaged<ServerEngine>?
    }

    /// Starts libmicrohttpd on `address` with `settings`' limits, its callbacks going to `engine`.
    ///
    /// - Throws: ``HTTPServerError/startFailed(address:reason:)`` with libmicrohttpd's own message (bind failures
    ///   say why: `Address already in use`, `Permission denied`).
    init(settings: HTTPServerSettings, address: ListenAddress, engine: ServerEngine) throws(HTTPServerError) {
        let retained = Unmanaged.passRetained(engine)
        let context = retained.toOpaque()
        // Suspend/resume needs libmicrohttpd's inter-thread channel (MHD_ALLOW_SUSPEND_RESUME sets MHD_USE_ITC),
        // which also lets MHD_quiesce_daemon work with internal threads.
        let flags =
            MHD_USE_INTERNAL_POLLING_THREAD.rawValue | MHD_USE_EPOLL.rawValue | MHD_ALLOW_SUSPEND_RESUME.rawValue
            | MHD_USE_ERROR_LOG.rawValue | address.flags
        // The per-connection memory pool holds the read buffer, so it bounds the head libmicrohttpd reads before it
        // answers 431 (or 414) itself; it is twice maxHeaderBytes so that heads between the two limits reach the
        // handler, which answers them with the responder's own 431.
        let memoryLimit = max(32 << 10, settings.maxHeaderBytes * 2 + (8 << 10))
        let idleSeconds = Int((settings.idleTimeout + .milliseconds(999)).components.seconds)
        engine.captureLibraryMessages()
        let daemon = address.withSocketAddress { socketAddress -> OpaquePointer? in
            var options: [MHD_OptionItem] = [
                cmhd_option_pointer(.SOCK_ADDR, socketAddress),
                cmhd_option_value(.CONNECTION_LIMIT, settings.maxConnections),
                cmhd_option_value(.PER_IP_CONNECTION_LIMIT, settings.maxConnectionsPerAddress),
                cmhd_option_value(.CONNECTION_TIMEOUT, idleSeconds),
                cmhd_option_value(.CONNECTION_MEMORY_LIMIT, memoryLimit),
                cmhd_option_value(.STRICT_FOR_CLIENT, 1),
                cmhd_option_notify_connection(Callbacks.notifyConnection, context),
                cmhd_option_uri_log(Callbacks.requestLine, context),
                cmhd_option_notify_completed(Callbacks.requestCompleted, context),
                cmhd_option_logger(Callbacks.log, context),
            ]
            if settings.threads > 1 {
                options.append(cmhd_option_value(.THREAD_POOL_SIZE, settings.threads))
            }
            options.append(cmhd_option_end())
            return cmhd_start_daemon(flags, UInt16(settings.port), Callbacks.access, context, &options)
        }
        let messages = engine.capturedLibraryMessages()
        guard let daemon else {
            retained.release()
            throw HTTPServerError.startFailed(
                address: address.display(), reason: messages.last ?? "libmicrohttpd did not start")
        }
        self.port = Int(cmhd_daemon_port(daemon))
        self.state = Mutex(State(daemon: daemon, engine: retained))
    }

    deinit {
        self.stop()
    }

    /// Stops accepting connections and refuses new ones at once; connections already open keep being served.
    ///
    /// - Returns: false if libmicrohttpd had stopped listening already.
    @discardableResult
    func quiesce() -> Bool {
        self.state.withLock { state -> Bool in
            guard let daemon = state.daemon, state.quiescedSocket == nil else { return false }
            let socket = MHD_quiesce_daemon(daemon)
            guard socket >= 0 else { return false }
            // libmicrohttpd no longer polls the socket but leaves it open (it may still be in use by its threads
            // until MHD_stop_daemon): shutting it down makes the kernel refuse new connections now, and it is
            // closed after the stop.
            _ = shutdown(socket, Int32(SHUT_RDWR))
            state.quiescedSocket = socket
            return true
        }
    }

    /// Stops the daemon: joins its threads and closes every connection. Blocks; idempotent.
    func stop() {
        self.state.withLock { state in
            guard let daemon = state.daemon else { return }
            MHD_stop_daemon(daemon)
            state.daemon = nil
            if let socket = state.quiescedSocket {
                close(socket)
                state.quiescedSocket = nil
            }
            state.engine?.release()
            state.engine = nil
        }
    }
}

/// libmicrohttpd's callbacks; each gets the ``ServerEngine`` (retained by the ``MHDDaemon``) as its context.
private enum Callbacks {
    static let access: MHD_AccessHandlerCallback = {
        context, connection, url, method, _, upload, uploadSize, requestContext in
        guard let context, let connection, let uploadSize, let exchangePointer = requestContext?.pointee else {
            return .NO
        }
        let engine = Unmanaged<ServerEngine>.fromOpaque(context).takeUnretainedValue()
        let exchange = Unmanaged<Exchange>.fromOpaque(exchangePointer).takeUnretainedValue()
        let path = url.map { String(cString: $0) } ?? "/"
        let verb = method.map { String(cString: $0) } ?? "GET"
        return engine.handle(
            connection, exchange: exchange, url: path, method: verb, upload: upload, uploadSize: uploadSize)
    }

    static let notifyConnection: MHD_NotifyConnectionCallback = { context, connection, socketContext, event in
        guard let context, let connection else { return }
        let engine = Unmanaged<ServerEngine>.fromOpaque(context).takeUnretainedValue()
        if event == .CONNECTION_NOTIFY_STARTED {
            engine.connectionStarted(connection, context: socketContext)
        } else {
            engine.connectionClosed(socketContext)
        }
    }

    static let requestLine: CMHD_URILogCallback = { context, _, connection in
        guard let context, let connection else { return nil }
        let engine = Unmanaged<ServerEngine>.fromOpaque(context).takeUnretainedValue()
        return engine.requestLineReceived(on: connection)
    }

    static let requestCompleted: MHD_RequestCompletedCallback = { context, _, requestContext, code in
        guard let context else { return }
        let engine = Unmanaged<ServerEngine>.fromOpaque(context).takeUnretainedValue()
        engine.requestCompleted(requestContext, code: code)
    }

    static let log: MHD_LogCallback = { context, format, arguments in
        guard let context, let format else { return }
        var buffer = [CChar](repeating: 0, count: 512)
        let capacity = buffer.count
        guard let arguments else { return }
        _ = cmhd_format(&buffer, capacity, format, arguments)
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let message = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        Unmanaged<ServerEngine>.fromOpaque(context).takeUnretainedValue().libraryMessage(message)
    }
}
