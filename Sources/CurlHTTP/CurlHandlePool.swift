import Synchronization

/// Idle easy handles, reused so requests to the same host share kept-alive connections.
final class CurlHandlePool: Sendable {
    private let idle = Mutex<[CurlEasyHandle]>([])
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// An idle handle, or a new one.
    func take() -> CurlEasyHandle? {
        self.idle.withLock { $0.popLast() } ?? CurlEasyHandle()
    }

    /// Returns a handle for reuse; beyond the capacity it is freed.
    func give(_ handle: CurlEasyHandle) {
        self.idle.withLock { idle in
            if idle.count < self.capacity {
                idle.append(handle)
            }
        }
    }
}
