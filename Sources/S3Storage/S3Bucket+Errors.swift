import Foundation
import PipelineCore

extension S3Bucket {
    /// S3 codes that mean the credentials or the request's authorisation are wrong.
    static let accessCodes: Set<String> = [
        "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed",
        "InvalidToken", "ExpiredToken", "TokenRefreshRequired", "RequestTimeTooSkewed", "InvalidSecurity",
        "MissingSecurityHeader", "AccountProblem", "AllAccessDisabled", "NotSignedUp", "CredentialsNotSupported",
    ]

    /// The ``StorageError`` for a reply that is not 2xx: S3's code decides, then the status.
    func storageError(for response: HTTPResponse, of call: S3Call) -> StorageError {
        let subject = self.subject(call.key)
        let reply = S3ErrorReply.parse(response.body)
        let detail = "\(call.operation) answered HTTP \(response.status)" + (reply.map { " \($0.summary)" } ?? "")
        switch reply?.code {
        case "NoSuchKey"?: return .notFound(subject)
        case "NoSuchBucket"?: return .bucketNotFound(self.name)
        case "InvalidBucketName"?: return .invalidBucket(self.name, reason: reply?.message ?? detail)
        case "KeyTooLongError"?: return .invalidKey(call.key ?? "", reason: reply?.message ?? detail)
        case let code? where Self.accessCodes.contains(code) && (400..<500).contains(response.status):
            return .accessDenied(key: subject, message: reply?.summary ?? detail)
        default: break
        }
        switch response.status {
        case 404 where call.key != nil && call.method != .post: return .notFound(subject)
        case 401, 403: return .accessDenied(key: subject, message: reply?.summary ?? "HTTP \(response.status)")
        case 300..<400:
            return .unavailable(key: subject, message: "\(detail); the endpoint or region may be wrong")
        default: return .unavailable(key: subject, message: detail)
        }
    }

    /// The ``StorageError`` for a request that got no usable reply.
    func storageError(for error: HTTPClientError, of call: S3Call) -> StorageError {
        let subject = self.subject(call.key)
        switch error {
        case .responseTooLarge(let limit):
            if call.operation == "GetObject", case .file = call.destination {
                return .tooLarge(key: subject, limit: limit)
            }
            return .unavailable(key: subject, message: "\(call.operation): \(error)")
        case .file(let message):
            return .io(key: subject, message: message)
        case .invalidRequest(let message):
            return .io(key: subject, message: "\(call.operation) cannot be sent: \(message)")
        case .connection, .timeout, .malformedResponse:
            return .unavailable(
                key: subject, message: "\(call.operation) to \(self.settings.endpoint): \(error)")
        }
    }

    /// The error for a failed HEAD, whose reply has no body to say why.
    ///
    /// A 404 is told apart by asking for the bucket; a refusal is asked again as a one-byte GET, whose reply carries
    /// S3's code and message (`SignatureDoesNotMatch` rather than a bare 403).
    func headFailure(_ response: HTTPResponse, of call: S3Call) async throws -> StorageError {
        if response.status == 404 {
            return try await self.bucketExists() ? .notFound(self.subject(call.key)) : .bucketNotFound(self.name)
        }
        if response.body.isEmpty, [400, 401, 403].contains(response.status), let key = call.key {
            let probe = S3Call(
                operation: "GetObject", method: .get, key: key, headers: ["Range": "bytes=0-0"],
                destination: .memory(maxBytes: 64 << 10), timeout: self.settings.requestTimeout, isIdempotent: true)
            let explained = try await self.send(probe)
            if !explained.isSuccess, S3ErrorReply.parse(explained.body) != nil {
                return self.storageError(for: explained, of: call)
            }
        }
        return self.storageError(for: response, of: call)
    }

    /// Whether the bucket is there, by a HEAD on it; anything but a 404 counts as there (a policy may refuse HEAD
    /// on the bucket yet allow its objects).
    func bucketExists() async throws -> Bool {
        let call = S3Call(
            operation: "HeadBucket", method: .head, key: nil, timeout: self.settings.requestTimeout,
            isIdempotent: true)
        return try await self.send(call).status != 404
    }
}
