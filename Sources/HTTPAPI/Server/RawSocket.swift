internal import CMicroHTTPD
import Foundation

/// The few socket calls the server makes on connections libmicrohttpd owns; see ``ServerEngine`` for when that
/// is safe (the connection is registered, so its descriptor is open).
enum RawSocket {
    /// Sends as much of `bytes` as the socket takes without blocking (a rejection fits an empty send buffer).
    static func sendAll(_ bytes: Data, to descriptor: Int32) {
        bytes.withUnsafeBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            var sent = 0
            while sent < buffer.count {
                let result = send(descriptor, base + sent, buffer.count - sent, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
                if result < 0, errno == EINTR { continue }
                // EAGAIN (a full buffer), EPIPE, ECONNRESET: the client gets what it got; the caller shuts down.
                guard result > 0 else { return }
                sent += result
            }
        }
    }

    /// Ends the sending side: the client reads what was sent, then end of file.
    static func shutdownWrite(_ descriptor: Int32) {
        // ENOTCONN when the client is already gone, which is the outcome wanted anyway.
        _ = shutdown(descriptor, Int32(SHUT_WR))
    }

    /// Ends both sides: libmicrohttpd's next read sees end of file and closes the connection.
    static func shutdownBoth(_ descriptor: Int32) {
        _ = shutdown(descriptor, Int32(SHUT_RDWR))
    }
}
