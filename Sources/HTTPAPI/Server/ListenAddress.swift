internal import CMicroHTTPD
import Foundation

/// The socket address an ``HTTPServer`` binds, parsed from ``HTTPServerSettings/host`` and `port`.
struct ListenAddress: Sendable {
    private enum Storage: Sendable {
        case v4(sockaddr_in)
        case v6(sockaddr_in6)
    }

    private let storage: Storage
    private let literal: String
    private let port: Int
    /// The libmicrohttpd flags the address family needs (IPv6, dual stack for `::`).
    let flags: UInt32

    /// Parses a literal address; `localhost` means `127.0.0.1`.
    init(host: String, port: Int) throws(HTTPServerError) {
        let literal = host == "localhost" ? "127.0.0.1" : host
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, literal, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = in_port_t(UInt16(port).bigEndian)
            self.storage = .v4(v4)
            self.flags = 0
        } else if inet_pton(AF_INET6, literal, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = in_port_t(UInt16(port).bigEndian)
            self.storage = .v6(v6)
            let anyAddress = v6.sin6_addr.__in6_u.__u6_addr32 == (0, 0, 0, 0)
            self.flags = anyAddress ? MHD_USE_DUAL_STACK.rawValue : MHD_USE_IPv6.rawValue
        } else {
            throw HTTPServerError.invalidAddress(host)
        }
        self.literal = literal
        self.port = port
    }

    /// `127.0.0.1:8078` or `[::1]:8078`, for messages; `port` replaces the configured one (0 before binding).
    func display(port: Int? = nil) -> String {
        let port = port ?? self.port
        switch self.storage {
        case .v4: return "\(self.literal):\(port)"
        case .v6: return "[\(self.literal)]:\(port)"
        }
    }

    /// Runs `body` with a pointer to the `sockaddr`, valid for the call.
    func withSocketAddress<Result>(_ body: (UnsafeMutableRawPointer) -> Result) -> Result {
        switch self.storage {
        case .v4(var address): withUnsafeMutableBytes(of: &address) { body($0.baseAddress!) }
        case .v6(var address): withUnsafeMutableBytes(of: &address) { body($0.baseAddress!) }
        }
    }

    /// The text form of a client's address (`127.0.0.1`, `::1`); IPv4-mapped IPv6 addresses are shown as IPv4.
    static func describe(_ address: UnsafePointer<sockaddr>?) -> String {
        guard let address else { return "" }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let capacity = socklen_t(text.count)
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { ipv4 in
                var bytes = ipv4.pointee.sin_addr
                _ = inet_ntop(AF_INET, &bytes, &text, capacity)
            }
        case AF_INET6:
            address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { ipv6 in
                var bytes = ipv6.pointee.sin6_addr
                let words = bytes.__in6_u.__u6_addr32
                if words.0 == 0, words.1 == 0, words.2 == UInt32(0xffff).bigEndian {
                    var mapped = in_addr(s_addr: words.3)
                    _ = inet_ntop(AF_INET, &mapped, &text, capacity)
                } else {
                    _ = inet_ntop(AF_INET6, &bytes, &text, capacity)
                }
            }
        default:
            return ""
        }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
