import PipelineCore

/// One S3 API call on a bucket or one of its objects, before it is signed.
struct S3Call: Sendable {
    /// The S3 operation, for messages and logs: `GetObject`, `UploadPart`.
    var operation: String
    var method: HTTPMethod
    /// The object key, not encoded; nil for a call on the bucket itself.
    var key: String?
    /// Query parameters, not encoded.
    var query: [(name: String, value: String)] = []
    /// Extra headers; all of them are signed.
    var headers: [String: String] = [:]
    var body: HTTPRequestBody = .empty
    /// The body's SHA-256 in hex, or ``SigV4Signer/unsignedPayload`` for a body streamed from a file.
    var payloadHash = SigV4Signer.emptyPayloadHash
    /// Where the reply's body goes; error bodies are small, so a megabyte is plenty by default.
    var destination: HTTPResponseDestination = .memory(maxBytes: 1 << 20)
    var timeout: Duration
    /// Whether the call may be sent again after a transient failure.
    var isIdempotent: Bool
}
