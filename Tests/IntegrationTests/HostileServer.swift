import Foundation
import PipelineCore
import Synchronization
import TestSupport

/// A raw TCP server on 127.0.0.1 that answers every connection with scripted bytes, to play a provider that breaks
/// HTTP on purpose: bad status lines, endless headers, broken chunking, stalls, drips, resets.
///
/// Each connection: read until the request's headers and `Content-Length` body are in (or the client stops), then
/// play the script. It runs on its own thread; ``stop()`` closes the socket and joins nothing (the thread ends).
final class HostileServer: Sendable {
    /// What to do once a request has been read.
    enum Step: Sendable {
        /// Write these bytes.
        case send(Data)
        /// Write these bytes one at a time, this long apart.
        case drip(Data, every: Duration)
        /// Wait this long.
        case pause(Duration)
        /// Close with an RST (SO_LINGER 0) instead of a FIN.
        case reset
    }

    let port: Int
    private let listener: Int32
    private let stopped = Atomic<Bool>(false)
    private let served = Atomic<Int>(0)

    /// Starts a server that plays `script` on every connection, then closes it.
    init(_ script: [Step]) throws {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw SetupError("socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(socket, 64) == 0 else {
            close(socket)
            throw SetupError("bind/listen: \(String(cString: strerror(errno)))")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.listener = socket
        let thread = Thread { [self] in self.acceptLoop(script) }
        thread.name = "hostile-server"
        thread.start()
    }

    /// Connections served so far.
    var connections: Int { self.served.load(ordering: .relaxed) }

    /// The base URL, `http://127.0.0.1:PORT`.
    var url: String { "http://127.0.0.1:\(self.port)" }

    /// Stops accepting; connections being served end on their own.
    func stop() {
        self.stopped.store(true, ordering: .relaxed)
        shutdown(self.listener, Int32(SHUT_RDWR))
        close(self.listener)
    }

    private func acceptLoop(_ script: [Step]) {
        while !self.stopped.load(ordering: .relaxed) {
            let connection = accept(self.listener, nil, nil)
            guard connection >= 0 else {
                if errno == EINTR { continue }
                return
            }
            self.served.wrappingAdd(1, ordering: .relaxed)
            let thread = Thread { Self.serve(connection, script) }
            thread.start()
        }
    }

    private static func serve(_ connection: Int32, _ script: [Step]) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        Self.readRequest(connection)
        var reset = false
        for step in script {
            switch step {
            case .send(let data):
                Self.write(connection, data)
            case .drip(let data, let every):
                for byte in data {
                    Self.write(connection, Data([byte]))
                    Thread.sleep(forTimeInterval: every.seconds)
                }
            case .pause(let duration):
                Thread.sleep(forTimeInterval: duration.seconds)
            case .reset:
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(connection, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                reset = true
            }
        }
        if !reset {
            shutdown(connection, Int32(SHUT_WR))
        }
        close(connection)
    }

    /// Reads the request line, headers and a `Content-Length` body (requests from our client are never chunked).
    private static func readRequest(_ connection: Int32) {
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var needed: Int?
        while true {
            if let needed, received.count >= needed { return }
            let count = read(connection, &buffer, buffer.count)
            guard count > 0 else { return }
            received.append(contentsOf: buffer[0..<count])
            if needed == nil, let end = received.range(of: Data("\r\n\r\n".utf8)) {
                let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
                let length =
                    head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                    .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
                needed = end.upperBound + length
            }
        }
    }

    private static func write(_ connection: Int32, _ data: Data) {
        data.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.send(
                    connection, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
                if written <= 0 { return }
                offset += written
            }
        }
    }
}

extension HostileServer.Step {
    /// A whole HTTP response: status, headers and body, with `Content-Length` unless headers give framing.
    static func response(
        _ status: Int, headers: [(String, String)] = [], body: Data = Data(), contentLength: Bool = true
    ) -> HostileServer.Step {
        var head = "HTTP/1.1 \(status) Status\r\n"
        for (name, value) in headers {
            head += "\(name): \(value)\r\n"
        }
        if contentLength {
            head += "Content-Length: \(body.count)\r\n"
        }
        head += "Connection: close\r\n\r\n"
        return .send(Data(head.utf8) + body)
    }

    /// A JSON body with status 200.
    static func json(_ text: String, headers: [(String, String)] = []) -> HostileServer.Step {
        .response(200, headers: [("Content-Type", "application/json")] + headers, body: Data(text.utf8))
    }
}
