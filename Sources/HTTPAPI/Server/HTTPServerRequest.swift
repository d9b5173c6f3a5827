import Foundation

/// What a request looks like once its headers are in, before its body is read.
package struct HTTPRequestHead: Sendable {
    /// The method as sent: `GET`, `POST`, ...
    package var method: String
    /// The percent-decoded path, without the query.
    package var path: String
    /// The decoded query parameters in order (`+` is a space); a name may repeat, a parameter without `=` has value "".
    package var query: [(name: String, value: String)]
    /// The request's header fields.
    package var headers: HTTPFields
    /// The client's IP address: `127.0.0.1`, `::1`.
    package var remoteAddress: String
    /// The declared body length, or nil when the body is chunked or absent.
    package var contentLength: Int64?

    /// Creates a head.
    package init(
        method: String, path: String, query: [(name: String, value: String)] = [], headers: HTTPFields = HTTPFields(),
        remoteAddress: String = "127.0.0.1", contentLength: Int64? = nil
    ) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.remoteAddress = remoteAddress
        self.contentLength = contentLength
    }

    /// The value of the first query parameter named `name`, or nil.
    package func queryValue(_ name: String) -> String? {
        self.query.first { $0.name == name }?.value
    }
}

/// A request whose body has been read.
package struct HTTPServerRequest: Sendable {
    /// Method, path, query and headers.
    package var head: HTTPRequestHead
    /// The body, in memory or in a temporary file.
    package var body: HTTPRequestBody

    /// Creates a request.
    package init(head: HTTPRequestHead, body: HTTPRequestBody) {
        self.head = head
        self.body = body
    }
}

/// A request body as the server stored it.
package enum HTTPRequestBody: Sendable {
    /// No body.
    case empty
    /// A body small enough to keep in memory (up to ``HTTPServerSettings/memoryBodyBytes``).
    case memory(Data)
    /// A larger body, streamed to a file in ``HTTPServerSettings/scratchDirectory`` as it arrived.
    ///
    /// The server owns the file and deletes it once the response has been sent or the exchange has ended
    /// otherwise; a responder that wants to keep it copies or hard-links it before returning.
    case file(URL, bytes: Int64)

    /// The body's length in bytes.
    package var count: Int64 {
        switch self {
        case .empty: 0
        case .memory(let data): Int64(data.count)
        case .file(_, let bytes): bytes
        }
    }
}
