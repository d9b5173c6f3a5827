import Foundation

extension HTTPClient {
    /// Sends a provider request and returns a 2xx response; anything else becomes a ``ProviderFailure``.
    package func sendToProvider(_ request: HTTPRequest) async throws -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try await self.send(request)
        } catch let error as HTTPClientError {
            let kind: ProviderFailure.Kind
            switch error {
            case .timeout: kind = .timeout
            case .connection: kind = .connection
            case .responseTooLarge, .malformedResponse: kind = .malformedResponse
            case .file, .invalidRequest: kind = .misconfigured
            }
            var failure = ProviderFailure(kind, message: error.description)
            failure.bytesSent = Int(request.body.count)
            throw failure
        }
        guard (200..<300).contains(response.status) else {
            var failure = ProviderFailure.from(response: response)
            failure.bytesSent = Int(request.body.count)
            throw failure
        }
        return response
    }

    /// POSTs a JSON speech request and returns the reply's audio, which must not be empty, JSON or text (an
    /// error page sent with a success status).
    func postSpeech(
        _ payload: [String: JSONValue], to url: URL, headers: [String: String], timeout: Duration
    ) async throws -> (audio: Data, bytesSent: Int) {
        let body = try JSONOutput.encode(JSONValue.object(payload))
        var headers = headers
        headers["Content-Type"] = "application/json"
        let response = try await self.sendToProvider(
            HTTPRequest(method: .post, url: url, headers: headers, body: body, timeout: timeout))
        let type = response.header("content-type")?.lowercased() ?? ""
        var problem: String? = nil
        if response.body.isEmpty {
            problem = "the reply is empty"
        } else if type.hasPrefix("application/json") || type.hasPrefix("text/") {
            let start = String(decoding: response.body.prefix(80), as: UTF8.self)
            problem = "the reply is \(type), not audio: '\(start)'"
        }
        if let problem {
            var failure = ProviderFailure(.malformedResponse, message: problem)
            failure.bytesSent = body.count
            throw failure
        }
        return (response.body, body.count)
    }
}
