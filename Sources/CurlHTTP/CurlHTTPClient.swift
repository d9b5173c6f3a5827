internal import CCurl
import Foundation
import PipelineCore

/// ``HTTPClient`` on libcurl's easy interface: each request blocks one Dispatch thread in `curl_easy_perform`,
/// which waits in `poll` and so costs no CPU while a provider thinks (FoundationNetworking's URLSession spins a
/// core while waiting, measured here). Handles are pooled, so connections are kept alive and reused.
package struct CurlHTTPClient: HTTPClient {
    private let pool: CurlHandlePool

    /// Creates a client keeping up to `idleHandles` handles (and their connections) between requests.
    package init(idleHandles: Int = 16) {
        CurlGlobal.initialize()
        self.pool = CurlHandlePool(capacity: idleHandles)
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let pool = self.pool
        return try await runBlocking { cancellation in
            guard let handle = pool.take() else { throw HTTPClientError.connection("libcurl could not start") }
            let response = try handle.withHandle { pointer in
                try CurlTransfer(handle: pointer, request: request, cancellation: cancellation).perform()
            }
            pool.give(handle)
            return response
        }
    }
}

/// Process-wide libcurl initialisation, done once before any handle exists.
enum CurlGlobal {
    private static let once: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    static func initialize() { _ = self.once }
}
