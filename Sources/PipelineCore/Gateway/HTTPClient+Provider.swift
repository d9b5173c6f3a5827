extension HTTPClient {
    /// Sends a provider request and returns a 2xx response; anything else becomes a ``ProviderFailure``.
    package func sendToProvider(_ request: HTTPRequest) async throws -> HTTPResponse {
        let response: HTTPResponse
        do {
            response = try await self.send(request)
        } catch let error as HTTPClientError {
            switch error {
            case .timeout:
                var failure = ProviderFailure(.timeout, message: error.description)
                failure.bytesSent = request.body.count
                throw failure
            case .connection:
                var failure = ProviderFailure(.connection, message: error.description)
                failure.bytesSent = request.body.count
                throw failure
            case .responseTooLarge:
                var failure = ProviderFailure(.malformedResponse, message: error.description)
                failure.bytesSent = request.body.count
                throw failure
            }
        }
        guard (200..<300).contains(response.status) else {
            var failure = ProviderFailure.from(response: response)
            failure.bytesSent = request.body.count
            throw failure
        }
        return response
    }
}
