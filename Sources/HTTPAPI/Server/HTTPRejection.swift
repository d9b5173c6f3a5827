import PipelineCore

/// Why the server answered a request itself instead of passing it to ``HTTPResponder/respond(to:)``.
package enum HTTPRejection: Error, Sendable, Equatable {
    /// The body is larger than ``HTTPServerSettings/maxBodyBytes`` (declared, or found while reading): 413.
    case bodyTooLarge(maxBytes: Int64)
    /// The body did not arrive within ``HTTPServerSettings/bodyTimeout``: 408.
    case bodyTimeout(Duration)
    /// The request line and headers are larger than ``HTTPServerSettings/maxHeaderBytes``: 431.
    case headersTooLarge(maxBytes: Int)
    /// A `Transfer-Encoding` other than `chunked`: 501.
    case unsupportedTransferEncoding(String)
    /// Both `Content-Length` and `Transfer-Encoding`, which RFC 9112 says a server must not trust: 400.
    case ambiguousLength
    /// The server is shutting down and takes no new requests: 503 with `Retry-After`.
    case shuttingDown
    /// The body could not be stored in the scratch directory (disk full, permissions): 500.
    case bodyNotStored(reason: String)
    /// The responder gave a response the server cannot send (a status below 200 or above 999, a stream from
    /// ``HTTPResponder/admit(_:)``, a header with a line break): 500.
    case invalidResponse(reason: String)

    /// The status code the rejection is answered with.
    package var status: Int {
        switch self {
        case .bodyTooLarge: 413
        case .bodyTimeout: 408
        case .headersTooLarge: 431
        case .unsupportedTransferEncoding: 501
        case .ambiguousLength: 400
        case .shuttingDown: 503
        case .bodyNotStored, .invalidResponse: 500
        }
    }

    /// A sentence for the client.
    package var message: String {
        switch self {
        case .bodyTooLarge(let maxBytes):
            "request body is larger than the limit of \(maxBytes) bytes"
        case .bodyTimeout(let timeout):
            "request body did not arrive within \(timeout.components.seconds) s"
        case .headersTooLarge(let maxBytes):
            "request headers are larger than the limit of \(maxBytes) bytes"
        case .unsupportedTransferEncoding(let encoding):
            "transfer encoding '\(encoding)' is not supported; use chunked or Content-Length"
        case .ambiguousLength:
            "request has both Content-Length and Transfer-Encoding"
        case .shuttingDown:
            "server is shutting down; retry shortly"
        case .bodyNotStored(let reason):
            "request body could not be stored: \(reason)"
        case .invalidResponse:
            "internal server error"
        }
    }

    /// The default answer, FastAPI's shape: `{"detail": message}`, and `Retry-After: 1` when shutting down.
    package var defaultResponse: HTTPServerResponse {
        let headers: [(String, String)] = self == .shuttingDown ? [("Retry-After", "1")] : []
        return .json(.object(["detail": .string(self.message)]), status: self.status, headers: headers)
    }
}
