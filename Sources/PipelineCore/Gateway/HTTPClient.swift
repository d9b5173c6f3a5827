import Foundation

/// Sends one HTTP request and returns the whole response.
///
/// Implementations: `CurlHTTPClient` (module CurlHTTP); tests use scripted fakes. Requests and responses are our own types
/// because `URLRequest` lives in FoundationNetworking on Linux.
package protocol HTTPClient: Sendable {
    /// Sends `request`; throws ``HTTPClientError`` for transport failures (never for an HTTP error status).
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// An HTTP request.
package struct HTTPRequest: Sendable {
    /// `GET`, `POST`, ...
    package var method: String
    /// The full URL.
    package var url: URL
    /// Header fields; may hold credentials, so never log them.
    package var headers: [String: String]
    /// The body.
    package var body: Data
    /// The time allowed for the whole exchange.
    package var timeout: Duration
    /// The largest response body accepted, in bytes; a longer one fails the request.
    package var maxResponseBytes: Int

    /// Creates a request.
    package init(
        method: String, url: URL, headers: [String: String] = [:], body: Data = Data(),
        timeout: Duration = .seconds(60),
        maxResponseBytes: Int = 256 << 20
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.maxResponseBytes = maxResponseBytes
    }
}

/// An HTTP response.
package struct HTTPResponse: Sendable {
    /// The status code.
    package var status: Int
    /// Header fields, with lowercased names.
    package var headers: [String: String]
    /// The body.
    package var body: Data

    /// Creates a response; header names are lowercased.
    package init(status: Int, headers: [String: String] = [:], body: Data = Data()) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }) { $1 }
        self.body = body
    }

    /// A header's value, by case-insensitive name.
    package func header(_ name: String) -> String? { self.headers[name.lowercased()] }
}

/// A request that got no HTTP response.
package enum HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connection could not be made, or broke before a response arrived.
    case connection(String)
    /// No complete response within the request's timeout.
    case timeout(Duration)
    /// The response body was longer than the request allows.
    case responseTooLarge(Int)

    package var description: String {
        switch self {
        case .connection(let message): "connection failed: \(message)"
        case .timeout(let duration): "no response within \(duration.formattedSeconds)"
        case .responseTooLarge(let limit): "the reply is larger than \(limit) bytes"
        }
    }
}

extension Duration {
    /// The duration as seconds for messages, such as `2.5 s`.
    package var formattedSeconds: String {
        let seconds = self.seconds
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : String(format: "%.2f s", seconds)
    }
}
