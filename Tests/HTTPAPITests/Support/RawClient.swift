import Foundation
import PipelineCore
import Synchronization

/// A blocking HTTP/1.1 client on a raw POSIX socket, for what curl will not do: slow heads and bodies, malformed
/// requests, half-closes, resets, pipelining. Call its blocking methods through ``io(_:)`` (off the cooperative pool).
final class RawClient: Sendable {
    /// A response as read off the wire.
    struct Response: Sendable {
        var status: Int
        var headers: [(String, String)]
        var body: Data
        /// Each chunk of a chunked body with the time its last byte arrived.
        var chunks: [(data: Data, arrived: ContinuousClock.Instant)]

        func header(_ name: String) -> String? {
            self.headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        var text: String { String(decoding: self.body, as: UTF8.self) }

        /// The body as a JSON object.
        var json: [String: JSONValue] {
            guard case .object(let object) = try? JSONDecoder().decode(JSONValue.self, from: self.body) else {
                return [:]
            }
            return object
        }
    }

    /// What a read found when no response came.
    enum ReadError: Error, Equatable {
        case closed(afterBytes: Int)
        case timedOut
        case malformed(String)
    }

    let descriptor: Int32
    private let pending = Mutex(Data())
    private let closed = Atomic(false)

    /// Connects to `host:port`, from `source` when given (any 127.x.y.z address works on Linux's loopback).
    init(port: Int, host: String = "127.0.0.1", source: String? = nil, timeout: Duration = .seconds(10)) throws {
        let family = host.contains(":") ? AF_INET6 : AF_INET
        let descriptor = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        self.descriptor = descriptor
        var seconds = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &seconds, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &seconds, socklen_t(MemoryLayout<timeval>.size))
        var one: Int32 = 1
        setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &address.sin6_addr)
            let result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
            guard result == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
            return
        }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, host, &address.sin_addr)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else {
            let code = errno
            close(descriptor)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
    }

    deinit {
        if !self.closed.load(ordering: .relaxed) { close(self.descriptor) }
    }

    /// Runs blocking socket work on the blocking pool.
    func io<T: Sendable>(_ body: @escaping @Sendable (RawClient) throws -> T) async throws -> T {
        try await runBlocking { _ in try body(self) }
    }

    /// Sends text as bytes.
    func send(_ text: String) throws { try self.send(Data(text.utf8)) }

    /// Sends bytes.
    func send(_ data: Data) throws {
        try data.withUnsafeBytes { buffer in
            var sent = 0
            while sent < buffer.count {
                let result = Foundation.send(
                    self.descriptor, buffer.baseAddress! + sent, buffer.count - sent, Int32(MSG_NOSIGNAL))
                if result < 0 {
                    if errno == EINTR { continue }
                    throw POSIXError(.init(rawValue: errno) ?? .EIO)
                }
                sent += result
            }
        }
    }

    /// Half-closes: the server reads end of file, the client can still read.
    func shutdownWrite() { shutdown(self.descriptor, Int32(SHUT_WR)) }

    /// Makes the next close send a reset instead of a FIN.
    func resetOnClose() {
        var linger = Foundation.linger(l_onoff: 1, l_linger: 0)
        setsockopt(self.descriptor, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Foundation.linger>.size))
    }

    /// Closes the socket now; nothing may be read or sent after.
    func closeNow() {
        if !self.closed.exchange(true, ordering: .relaxed) { close(self.descriptor) }
    }

    /// Reads one response; `bodyless` for a HEAD request.
    func readResponse(bodyless: Bool = false) throws -> Response {
        var response = try self.readHead()
        if bodyless || response.status == 204 || response.status == 304 { return response }
        if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while let chunk = try self.readChunk() {
                response.chunks.append((chunk, .now))
                response.body.append(chunk)
            }
        } else if let length = response.header("Content-Length").flatMap({ Int($0) }) {
            response.body = try self.readExactly(length)
        } else {
            response.body = try self.readToEnd()
        }
        return response
    }

    /// Reads a response's status line and headers, leaving its body unread.
    func readHead() throws -> Response {
        let head = try self.readUntil(Data("\r\n\r\n".utf8))
        let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1."),
            let status = Int(statusLine.split(separator: " ").dropFirst().first ?? "")
        else { throw ReadError.malformed(String(decoding: head, as: UTF8.self)) }
        let headers = lines.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        return Response(status: status, headers: headers, body: Data(), chunks: [])
    }

    /// Reads the next chunk of a chunked body; nil at the terminating chunk.
    func readChunk() throws -> Data? {
        let sizeLine = String(decoding: try self.readUntil(Data("\r\n".utf8)), as: UTF8.self)
        guard let size = Int(sizeLine.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) else {
            throw ReadError.malformed("chunk size '\(sizeLine)'")
        }
        if size == 0 {
            _ = try self.readUntil(Data("\r\n".utf8))
            return nil
        }
        let chunk = try self.readExactly(size)
        _ = try self.readExactly(2)
        return chunk
    }

    /// Reads until the server closes; the bytes it sent first.
    func readToEnd() throws -> Data {
        var data = self.pending.withLock { pending in
            defer { pending = Data() }
            return pending
        }
        while true {
            let (bytes, status) = self.receive()
            switch status {
            case .data: data.append(bytes)
            case .closed: return data
            case .timedOut: throw ReadError.timedOut
            }
        }
    }

    /// Whether the server closed (end of file or reset) within the receive timeout, ignoring any bytes it sent.
    func serverCloses() -> Bool {
        while true {
            let (_, status) = self.receive()
            switch status {
            case .data: continue
            case .closed: return true
            case .timedOut: return false
            }
        }
    }

    /// Whether the connection is still open and silent right now.
    var isOpenAndSilent: Bool {
        var byte: UInt8 = 0
        let result = recv(self.descriptor, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return result < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
    }

    private enum ReceiveStatus {
        case data
        case closed
        case timedOut
    }

    private func receive() -> (Data, ReceiveStatus) {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = recv(self.descriptor, &buffer, buffer.count, 0)
            if count > 0 { return (Data(buffer[0..<count]), .data) }
            if count == 0 { return (Data(), .closed) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return (Data(), .timedOut) }
            return (Data(), .closed)
        }
    }

    private func readUntil(_ delimiter: Data) throws -> Data {
        while true {
            let found = self.pending.withLock { pending -> Data? in
                guard let range = pending.range(of: delimiter) else { return nil }
                let head = pending[pending.startIndex..<range.lowerBound]
                pending = Data(pending[range.upperBound...])
                return Data(head)
            }
            if let found { return found }
            try self.fill()
        }
    }

    private func readExactly(_ count: Int) throws -> Data {
        while true {
            let found = self.pending.withLock { pending -> Data? in
                guard pending.count >= count else { return nil }
                let head = pending.prefix(count)
                pending = Data(pending.dropFirst(count))
                return Data(head)
            }
            if let found { return found }
            try self.fill()
        }
    }

    private func fill() throws {
        let (bytes, status) = self.receive()
        switch status {
        case .data:
            self.pending.withLock { $0.append(bytes) }
        case .closed:
            throw ReadError.closed(afterBytes: self.pending.withLock { $0.count })
        case .timedOut:
            throw ReadError.timedOut
        }
    }
}
