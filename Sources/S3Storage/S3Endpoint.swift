import Foundation
import PipelineCore

/// Where an S3 service listens: scheme, host and port, as `MINIO_ENDPOINT` and `MINIO_SECURE` name it.
package struct S3Endpoint: Sendable, Equatable, CustomStringConvertible {
    /// `http` or `https`.
    package let scheme: String
    /// The host name, lowercased; an IPv6 address keeps its brackets (`[::1]`).
    package let host: String
    /// The port, when one was given.
    package let port: Int?

    /// Parses `host[:port]` (the scheme is `https` when `secure`, as `MINIO_SECURE` says) or an `http(s)://` URL,
    /// whose scheme wins; a URL may not carry credentials, a path, a query or a fragment.
    ///
    /// - Throws: ``ConfigError`` naming `source` (the setting it came from) for anything else.
    package init(parsing text: String, secure: Bool, source: String = "MINIO_ENDPOINT") throws(ConfigError) {
        let text = text.trimmingCharacters(in: .whitespaces)
        // Whatever stands before an `@` may be a password: it never reaches the message.
        let shown = text.lastIndex(of: "@").map { "…" + text[$0...] } ?? text
        let fail = { (reason: String) in
            ConfigError(file: source, message: "'\(shown)' is not an S3 endpoint: \(reason)")
        }
        var scheme = secure ? "https" : "http"
        var authority = Substring(text)
        if let separator = text.range(of: "://") {
            scheme = text[..<separator.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https" else { throw fail("use http or https") }
            authority = text[separator.upperBound...]
            if authority.hasSuffix("/") {
                authority = authority.dropLast()
            }
        }
        guard !authority.isEmpty else { throw fail("no host") }
        guard !authority.contains("@") else {
            throw fail("credentials belong in MINIO_ACCESS_KEY and MINIO_SECRET_KEY")
        }
        guard !authority.contains(where: { "/?#".contains($0) }) else {
            throw fail("path-style addressing needs the bare host: no path, query or fragment")
        }
        var host = authority
        var port: Int?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { throw fail("an unclosed IPv6 bracket") }
            host = authority[...close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw fail("junk after the IPv6 address") }
                port = Int(rest.dropFirst())
                guard port != nil else { throw fail("the port is not a number") }
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = Int(authority[authority.index(after: colon)...])
            guard port != nil else { throw fail("the port is not a number") }
        }
        if let port, !(1...65535).contains(port) {
            throw fail("the port is not between 1 and 65535")
        }
        let allowed = host.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (CharacterSet.alphanumerics.contains(scalar) || "-.[]:".unicodeScalars.contains(scalar))
        }
        guard !host.isEmpty, allowed else { throw fail("the host has characters a host name cannot have") }
        self.scheme = scheme
        self.host = host.lowercased()
        self.port = port
    }

    /// `host:port`, or the host alone when no port was given: the Host header, and the address in URIs.
    package var authority: String {
        self.port.map { "\(self.host):\($0)" } ?? self.host
    }

    /// `scheme://host:port`, without a trailing slash.
    package var baseURL: String { "\(self.scheme)://\(self.authority)" }

    package var description: String { self.baseURL }
}
