import Foundation
import PipelineCore

/// ``HTTPClient`` on libcurl's multi interface: one thread, ``CurlMultiLoop``, drives every request, waiting in
/// `poll`, so a client costs no CPU while a provider thinks (FoundationNetworking's URLSession spins a core while
/// waiting, measured here) and no thread per request. Bodies stream from and to files.
package struct CurlHTTPClient: HTTPClient {
    private let loop: CurlMultiLoop

    /// Creates a client on the process's one loop thread and its connection cache.
    package init() {
        self.loop = CurlMultiLoop.shared
    }

    package func send(_ request: HTTPRequest) async throws -> HTTPResponse {
        let transfer = try CurlTransfer(request: request)
        let loop = self.loop
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                transfer.attach(continuation)
                loop.start(transfer)
            }
        } onCancel: {
            loop.cancel(transfer)
        }
    }
}
