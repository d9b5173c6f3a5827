/// What answers the requests an ``HTTPServer`` receives: the routes.
package protocol HTTPResponder: Sendable {
    /// Looks at a request whose headers are in, before any of its body is read.
    ///
    /// A response returned here is sent at once and the body is never read (the client gets no
    /// `100 Continue`): authentication failures, unknown routes, wrong methods, a `Content-Length` the route
    /// will not take. Return nil to read the body and call ``respond(to:)``. Runs on one of the server's threads,
    /// so it must be quick and must not block; the response must not be a ``HTTPResponseBody/stream(_:)``.
    func admit(_ head: HTTPRequestHead) -> HTTPServerResponse?

    /// Answers a request whose body has been read (or that has none) at once, on one of the server's threads
    /// rather than in a task, or returns nil for ``respond(to:)``: for cheap answers that must stay fast however
    /// busy the tasks are (`/healthz`). Unlike an answer from ``admit(_:)``, it keeps the connection alive. Must be
    /// quick, must not block, and must not be a ``HTTPResponseBody/stream(_:)``. The server asks it of every request,
    /// draining or not, so ``respond(to:)`` never sees a request this answers.
    func respondAtOnce(to head: HTTPRequestHead) -> HTTPServerResponse?

    /// Answers a request whose body has been read.
    ///
    /// Runs as a child task of ``HTTPServer/run()``. It is cancelled when the client goes away (a failed write,
    /// a reset connection) and when the server is cancelled; a response returned after that is discarded.
    func respond(to request: HTTPServerRequest) async -> HTTPServerResponse

    /// The response to a request the server rejects itself (limits, shutdown, malformed framing).
    ///
    /// `head` is nil only when the rejection came before the headers were parsed. Routes choose the body's shape
    /// here (ffmpeg-whisper's `{"detail": ...}`, OpenAI's `{"error": {...}}`); the status should be
    /// ``HTTPRejection/status``. The body must be ``HTTPResponseBody/data(_:)`` or empty: it may be written
    /// while the client is still sending, outside the normal response path.
    func rejectionResponse(_ rejection: HTTPRejection, head: HTTPRequestHead?) -> HTTPServerResponse
}

extension HTTPResponder {
    /// Admits every request.
    package func admit(_ head: HTTPRequestHead) -> HTTPServerResponse? { nil }

    /// Answers every request in a task.
    package func respondAtOnce(to head: HTTPRequestHead) -> HTTPServerResponse? { nil }

    /// Answers with ``HTTPRejection/defaultResponse``: `{"detail": "..."}`.
    package func rejectionResponse(_ rejection: HTTPRejection, head: HTTPRequestHead?) -> HTTPServerResponse {
        rejection.defaultResponse
    }
}
