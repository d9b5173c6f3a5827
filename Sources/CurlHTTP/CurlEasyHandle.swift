internal import CCurl
import PipelineCore
import Synchronization

/// An owned libcurl easy handle; kept in ``CurlHandlePool`` between requests so its connections stay open.
///
/// libcurl allows one thread at a time per handle; the lock makes that so. The handle is kept as its address
/// because the pointer type is not `Sendable`; it is only ever used under the lock.
final class CurlEasyHandle: Sendable {
    private let address: UInt
    private let lock = Mutex<Void>(())

    init?() {
        guard let pointer = curl_easy_init() else { return nil }
        self.address = UInt(bitPattern: pointer)
    }

    deinit {
        if let pointer = UnsafeMutableRawPointer(bitPattern: self.address) {
            curl_easy_cleanup(pointer)
        }
    }

    /// Runs `body` with exclusive use of the handle.
    func withHandle<Result>(_ body: (UnsafeMutableRawPointer) throws -> Result) throws -> Result {
        try self.lock.withLock { _ in
            guard let pointer = UnsafeMutableRawPointer(bitPattern: self.address) else {
                throw HTTPClientError.connection("libcurl handle is gone")
            }
            return try body(pointer)
        }
    }
}
