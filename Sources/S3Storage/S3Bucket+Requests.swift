import Foundation
import PipelineCore

extension S3Bucket {
    /// Sends `call`, retrying transient failures when it is idempotent; returns the last reply, 2xx or not.
    ///
    /// - Throws: ``StorageError`` when no reply came (connection refused, timeout, a reply out of bounds), and
    ///   `CancellationError` as it comes.
    func send(_ call: S3Call) async throws -> HTTPResponse {
        var attempt = 1
        while true {
            let request = try self.request(for: call, at: Date())
            let reason: String
            do {
                let response = try await self.client.send(request)
                guard !response.isSuccess, let transient = Self.transientReason(response) else {
                    return response
                }
                guard call.isIdempotent, attempt < self.settings.retry.attempts else {
                    return response
                }
                reason = transient
            } catch let error as HTTPClientError {
                guard call.isIdempotent, attempt < self.settings.retry.attempts, Self.isTransient(error) else {
                    throw self.storageError(for: error, of: call)
                }
                reason = error.description
            }
            let delay = self.settings.retry.delay(after: attempt) * (1 - 0.5 * Double.random(in: 0..<1))
            self.logger.warning(
                "storage request failed; retrying",
                [
                    "operation": .string(call.operation), "key": .string(self.subject(call.key)),
                    "attempt": .number(Double(attempt)), "error": .string(reason),
                ])
            try await self.clock.sleep(for: delay)
            attempt += 1
        }
    }

    /// The signed HTTP request for `call` at `date`.
    func request(for call: S3Call, at date: Date) throws(StorageError) -> HTTPRequest {
        var path = "/" + self.name
        if let key = call.key {
            path += "/" + S3URIEncoding.encode(key, keepingSlashes: true)
        }
        let query = SigV4Signer.canonicalQuery(call.query)
        let address = self.settings.endpoint.baseURL + path + (query.isEmpty ? "" : "?" + query)
        guard let url = URL(string: address) else {
            throw .invalidKey(call.key ?? self.name, reason: "does not make a valid URL")
        }
        var headers = call.headers
        headers["Host"] = self.settings.endpoint.authority
        headers["x-amz-date"] = SigV4Signer.timestamp(date).dateTime
        headers["x-amz-content-sha256"] = call.payloadHash
        let signed = SigV4Request(
            method: call.method.rawValue, encodedPath: path, query: call.query,
            headers: headers.map { ($0.key, $0.value) }, payloadHash: call.payloadHash)
        headers["Authorization"] = self.signer.authorization(signed, at: date)
        var request = HTTPRequest(
            method: call.method, url: url, headers: headers, body: call.body, timeout: call.timeout)
        request.destination = call.destination
        return request
    }

    /// Why a reply is worth another try (5xx, 429, 408, `SlowDown`, `RequestTimeout`), or nil when it is not.
    static func transientReason(_ response: HTTPResponse) -> String? {
        let code = S3ErrorReply.parse(response.body)?.code
        if [500, 502, 503, 504, 429, 408].contains(response.status) || code == "RequestTimeout" || code == "SlowDown" {
            return "HTTP \(response.status)" + (code.map { " \($0)" } ?? "")
        }
        return nil
    }

    /// Whether a transport failure may pass: a broken connection or a timeout, not a refused reply or a local file.
    static func isTransient(_ error: HTTPClientError) -> Bool {
        switch error {
        case .connection, .timeout, .malformedResponse: true
        case .responseTooLarge, .file, .invalidRequest: false
        }
    }
}
