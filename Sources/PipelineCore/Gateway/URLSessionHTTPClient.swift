import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// ``HTTPClient`` on Foundation's `URLSession` (libcurl on Linux), with a total-time limit per request.
package struct URLSessionHTTPClient: HTTPClient {
    private let session: URLSession

    /// Creates a client with its own ephemeral session: no cookies, no cache, no stored credentials.
    package init(maximumConnectionsPerHost: Int = 16) {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = maximumConnectionsPerHost
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        self.session = URLSession(configuration: configuration)
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let session = self.session
        return try await withThrowingTaskGroup(of: HTTPResponse.self) { group in
            group.addTask { try await Self.exchange(request, on: session) }
            group.addTask {
                try await Task.sleep(for: request.timeout)
                throw HTTPClientError.timeout(request.timeout)
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            return first
        }
    }

    private static func exchange(_ request: HTTPRequest, on session: URLSession) async throws -> HTTPResponse {
        var urlRequest = URLRequest(url: request.url)
        urlRequest.httpMethod = request.method
        for (name, value) in request.headers {
            urlRequest.setValue(value, forHTTPHeaderField: name)
        }
        if !request.body.isEmpty {
            urlRequest.httpBody = request.body
        }
        // URLSession's own timeout is an idle timeout; `send` bounds the total time.
        urlRequest.timeoutInterval = max(request.timeout.seconds, 1)
        do {
            let (data, response) = try await session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else {
                throw HTTPClientError.connection("the reply was not HTTP")
            }
            var headers: [String: String] = [:]
            for (name, value) in http.allHeaderFields {
                headers[String(describing: name)] = String(describing: value)
            }
            return HTTPResponse(status: http.statusCode, headers: headers, body: data)
        } catch let error as URLError {
            throw error.code == .timedOut
                ? HTTPClientError.timeout(request.timeout) : HTTPClientError.connection(Self.describe(error))
        }
    }

    private static func describe(_ error: URLError) -> String {
        switch error.code {
        case .cannotConnectToHost: "cannot connect to the host"
        case .cannotFindHost: "cannot find the host"
        case .networkConnectionLost: "the connection was lost"
        case .badServerResponse: "the server closed the connection or sent a bad response"
        case .notConnectedToInternet: "no network"
        case .secureConnectionFailed: "the TLS connection failed"
        default: "URLError \(error.code.rawValue)"
        }
    }
}
