import Foundation
import PipelineCore
import Synchronization

/// An ``HTTPClient`` that answers every request with a scripted handler and records what it was sent.
///
/// A 2xx body meant for a file is written to that file, as the libcurl client does.
final class ScriptedHTTPClient: HTTPClient {
    typealias Handler = @Sendable (HTTPRequest) async throws -> HTTPResponse

    private let handler: Handler
    private let sent = Mutex<[HTTPRequest]>([])

    init(_ handler: @escaping Handler) {
        self.handler = handler
    }

    /// Every request so far, in order.
    var requests: [HTTPRequest] { self.sent.withLock { $0 } }

    func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        self.sent.withLock { $0.append(request) }
        var response = try await self.handler(request)
        if case .file(let url, _) = request.destination {
            if response.isSuccess {
                try response.body.write(to: url)
                response.bodyFile = url
                response.bodyBytes = Int64(response.body.count)
                response.body = Data()
            } else {
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            }
        }
        return response
    }
}

extension HTTPRequest {
    /// The query parameters, decoded.
    var queryItems: [String: String] {
        let components = URLComponents(url: self.url, resolvingAgainstBaseURL: false)
        return Dictionary((components?.queryItems ?? []).map { ($0.name, $0.value ?? "") }) { $1 }
    }

    /// The path exactly as sent, still percent-encoded.
    var encodedPath: String {
        URLComponents(url: self.url, resolvingAgainstBaseURL: false)?.percentEncodedPath ?? ""
    }
}

extension HTTPResponse {
    /// An S3 error reply.
    static func s3Error(_ status: Int, _ code: String, _ message: String = "scripted") -> HTTPResponse {
        HTTPResponse(
            status: status, headers: ["Content-Type": "application/xml"],
            body: Data("<?xml version=\"1.0\"?><Error><Code>\(code)</Code><Message>\(message)</Message></Error>".utf8))
    }

    /// A ListObjectsV2 page.
    static func listing(_ keys: [String], next: String? = nil, truncated: Bool? = nil) -> HTTPResponse {
        var body = "<ListBucketResult><IsTruncated>\(truncated ?? (next != nil))</IsTruncated>"
        for key in keys {
            body += "<Contents><Key>\(key)</Key></Contents>"
        }
        if let next {
            body += "<NextContinuationToken>\(next)</NextContinuationToken>"
        }
        return HTTPResponse(status: 200, body: Data((body + "</ListBucketResult>").utf8))
    }
}
