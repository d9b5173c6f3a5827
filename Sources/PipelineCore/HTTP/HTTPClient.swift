import Foundation

/// Sends one HTTP request and returns its response, with the body in memory or in a file.
///
/// Implementations: `CurlHTTPClient` (module CurlHTTP); tests use scripted fakes. Requests and responses are our own
/// types because `URLRequest` lives in FoundationNetworking on Linux. Everything a server sends is untrusted: a
/// client caps the body and the headers it accepts, never follows redirects, and speaks only `http` and `https`.
package protocol HTTPClient: Sendable {
    /// Sends `request`; throws ``HTTPClientError`` for transport failures (never for an HTTP error status).
    func send(_ request: HTTPRequest) async throws -> HTTPResponse
}

/// An HTTP request method: the ones the worker sends.
package enum HTTPMethod: String, Sendable, CaseIterable {
    case get = "GET"
    case head = "HEAD"
    case post = "POST"
    case put = "PUT"
    case delete = "DELETE"
}

/// What a request sends.
package enum HTTPRequestBody: Sendable {
    /// No body.
    case empty
    /// Bytes in memory.
    case data(Data)
    /// `length` bytes of a file from `offset`, read as they are sent (S3 objects are gigabytes).
    case file(URL, offset: Int64 = 0, length: Int64)

    /// The number of bytes sent.
    package var count: Int64 {
        switch self {
        case .empty: 0
        case .data(let data): Int64(data.count)
        case .file(_, _, let length): length
        }
    }
}

/// Where a response body goes, and how much of it is accepted.
package enum HTTPResponseDestination: Sendable {
    /// Into ``HTTPResponse/body``, up to `maxBytes`.
    case memory(maxBytes: Int)
    /// Into a new file at the URL (replaced if it exists), up to `maxBytes`; the body in memory stays empty unless
    /// the status is not 2xx, when up to 64 KiB of the error body is kept in memory instead, for its message, and
    /// the file is removed.
    case file(URL, maxBytes: Int64)
}

/// An HTTP request.
package struct HTTPRequest: Sendable {
    /// The method.
    package var method: HTTPMethod
    /// The full URL; only `http` and `https` are sent.
    package var url: URL
    /// Header fields; may hold credentials, so never log them.
    package var headers: [String: String]
    /// The body.
    package var body: HTTPRequestBody
    /// The time allowed for the whole exchange.
    package var timeout: Duration
    /// Where the response body goes.
    package var destination: HTTPResponseDestination

    /// Creates a request whose response body is kept in memory, up to `maxResponseBytes`.
    package init(
        method: HTTPMethod, url: URL, headers: [String: String] = [:], body: HTTPRequestBody = .empty,
        timeout: Duration = .seconds(60), maxResponseBytes: Int = 256 << 20
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.destination = .memory(maxBytes: maxResponseBytes)
    }

    /// Creates a request with a JSON, form or other body in memory.
    package init(
        method: HTTPMethod, url: URL, headers: [String: String] = [:], body: Data, timeout: Duration = .seconds(60),
        maxResponseBytes: Int = 256 << 20
    ) {
        self.init(
            method: method, url: url, headers: headers, body: .data(body), timeout: timeout,
            maxResponseBytes: maxResponseBytes)
    }
}

/// An HTTP response.
package struct HTTPResponse: Sendable {
    /// The status code.
    package var status: Int
    /// Header fields, with lowercased names; repeated fields are joined with `, `.
    package var headers: [String: String]
    /// The body, when it went to memory (or, for a file destination, an error body).
    package var body: Data
    /// The file the body went to, for a file destination and a 2xx status.
    package var bodyFile: URL?
    /// Body bytes received.
    package var bodyBytes: Int64

    /// Creates a response; header names are lowercased.
    package init(status: Int, headers: [String: String] = [:], body: Data = Data(), bodyFile: URL? = nil) {
        self.status = status
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }) { $1 }
        self.body = body
        self.bodyFile = bodyFile
        self.bodyBytes = Int64(body.count)
    }

    /// A header's value, by case-insensitive name.
    package func header(_ name: String) -> String? { self.headers[name.lowercased()] }

    /// Whether the status is 2xx.
    package var isSuccess: Bool { (200..<300).contains(self.status) }
}

/// A request that got no usable HTTP response.
package enum HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The connection could not be made, or broke before a response arrived.
    case connection(String)
    /// No complete response within the request's timeout.
    case timeout(Duration)
    /// The response body was longer than the request allows.
    case responseTooLarge(Int64)
    /// The response broke HTTP: headers too many or too long, bad framing, a protocol that is not HTTP.
    case malformedResponse(String)
    /// A local file could not be read or written (the request body or the response destination).
    case file(String)
    /// The request cannot be sent as it is (an unsupported URL scheme, a header with a line break).
    case invalidRequest(String)

    package var description: String {
        switch self {
        case .connection(let message): "connection failed: \(message)"
        case .timeout(let duration): "no response within \(duration.formattedSeconds)"
        case .responseTooLarge(let limit): "the reply is larger than \(limit) bytes"
        case .malformedResponse(let message): "malformed reply: \(message)"
        case .file(let message): "local file: \(message)"
        case .invalidRequest(let message): "invalid request: \(message)"
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
