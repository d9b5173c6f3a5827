import CurlHTTP
import Foundation
import PipelineCore
import Synchronization

/// The libcurl client with a hook in front: it records every request, and `intercept` may answer or fail one instead
/// of sending it (return nil to send it as it is).
final class InterceptingHTTPClient: HTTPClient {
    typealias Intercept = @Sendable (HTTPRequest) async throws -> HTTPResponse?

    private let inner: any HTTPClient
    private let intercept: Intercept
    private let sent = Mutex<[HTTPRequest]>([])

    init(inner: any HTTPClient = CurlHTTPClient(), intercept: @escaping Intercept = { _ in nil }) {
        self.inner = inner
        self.intercept = intercept
    }

    /// Every request so far, in order, intercepted or not.
    var requests: [HTTPRequest] { self.sent.withLock { $0 } }

    /// The requests of one S3 operation, told apart by method and query.
    func requests(_ operation: Operation) -> [HTTPRequest] {
        self.requests.filter { operation.matches($0) }
    }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        self.sent.withLock { $0.append(request) }
        if let answer = try await self.intercept(request) {
            return answer
        }
        return try await self.inner.send(request)
    }

    /// S3 operations as they look on the wire.
    enum Operation {
        case getObject, headObject, putObject, createUpload, uploadPart, listObjects

        func matches(_ request: HTTPRequest) -> Bool {
            let query = request.queryItems
            switch self {
            case .getObject: return request.method == .get && query["list-type"] == nil && query["uploads"] == nil
            case .headObject: return request.method == .head
            case .putObject: return request.method == .put && query["partNumber"] == nil
            case .createUpload: return request.method == .post && query["uploads"] != nil
            case .uploadPart: return request.method == .put && query["partNumber"] != nil
            case .listObjects: return request.method == .get && query["list-type"] == "2"
            }
        }
    }
}
