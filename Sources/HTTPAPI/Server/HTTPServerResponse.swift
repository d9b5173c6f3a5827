import Foundation
import PipelineCore

/// A response to send: status, header fields and a body.
package struct HTTPServerResponse: Sendable {
    /// The status code, 200 to 999.
    package var status: Int
    /// Header fields in order; `Content-Length` and `Transfer-Encoding` are the server's, and are ignored here.
    package var headers: [(String, String)]
    /// The body.
    package var body: HTTPResponseBody
    /// Called once when the server is done with the response: after the body was sent, or when it never will be
    /// (the client left before the head went out, the server stopped). Where to release what the body holds: a
    /// listener, a waiting slot, a temporary file behind a ``HTTPResponseBody/file(_:)`` body.
    package var onDone: (@Sendable () -> Void)?

    /// Creates a response.
    package init(
        status: Int, headers: [(String, String)] = [], body: HTTPResponseBody = .empty,
        onDone: (@Sendable () -> Void)? = nil
    ) {
        self.status = status
        self.headers = headers
        self.body = body
        self.onDone = onDone
    }

    /// A JSON response: `value` encoded as ``JSONOutput`` writes it, with `Content-Type: application/json`.
    package static func json(_ value: JSONValue, status: Int = 200, headers: [(String, String)] = [])
        -> HTTPServerResponse
    {
        let data = (try? JSONOutput.encode(value)) ?? Data("null".utf8)
        return HTTPServerResponse(
            status: status, headers: [("Content-Type", "application/json")] + headers, body: .data(data))
    }
}

/// How a response body is produced.
package enum HTTPResponseBody: Sendable {
    /// No body.
    case empty
    /// A body held in memory, sent with `Content-Length`.
    case data(Data)
    /// A body sent as it is produced, with chunked transfer encoding (Server-Sent Events, audio streamed in order).
    ///
    /// The server iterates the stream in the request's own task, so cancellation reaches its producer when the
    /// client goes away or the server is cancelled. A chunk is sent as soon as it is produced; a producer that
    /// runs ahead of a slow client waits (the server buffers a bounded amount). The response ends when the stream
    /// ends; if the stream throws, the connection is closed without the final chunk, so the client sees a
    /// truncated body rather than a complete one.
    case stream(AsyncThrowingStream<Data, any Error>)
    /// A body written by `produce` as it goes, with chunked transfer encoding, like ``stream(_:)``.
    ///
    /// The closure runs in the request's own task once the response head is delivered, so everything it awaits is
    /// cancelled when the client goes away; ``HTTPBodyWriter/write(_:)`` waits while the client is slow and throws
    /// `CancellationError` once the client is gone. Returning ends the body; throwing closes the connection without
    /// the final chunk, so the client sees a truncated body rather than a complete one.
    case writer(@Sendable (HTTPBodyWriter) async throws -> Void)
    /// The contents of a file, sent with `Content-Length` (and `sendfile`). The server does not delete it.
    case file(URL)
}

/// Writes a ``HTTPResponseBody/writer(_:)`` body's chunks to the client.
package struct HTTPBodyWriter: Sendable {
    private let push: @Sendable (Data) async -> Bool

    init(push: @escaping @Sendable (Data) async -> Bool) {
        self.push = push
    }

    /// Sends `data` as the next chunk (nothing for empty data); throws `CancellationError` once the client is gone.
    package func write(_ data: Data) async throws {
        guard !data.isEmpty else { return }
        guard await self.push(data) else { throw CancellationError() }
    }
}
