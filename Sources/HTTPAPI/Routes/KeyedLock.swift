import Synchronization

/// Mutual exclusion per key, first come first served: the synchronous transcription routes hold the lock of their
/// output prefix from submitting the job until they have read its transcript, so two requests for the same media
/// (a caller's retry, or the same file asked for in two languages) cannot read each other's outputs.
final class KeyedLock: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var nextID: UInt64 = 0
        /// Keys held, each with the tasks waiting for it in arrival order.
        var held: [String: [Waiter]] = [:]
    }

    private let state = Mutex(State())

    /// Runs `body` holding `key`'s lock; waiting for it ends with `CancellationError` if the task is cancelled.
    func withLock<T>(_ key: String, _ body: () async throws -> T) async throws -> T {
        try await self.acquire(key)
        defer { self.release(key) }
        return try await body()
    }

    /// Whether anyone holds `key` now.
    func isHeld(_ key: String) -> Bool {
        self.state.withLock { $0.held[key] != nil }
    }

    private func acquire(_ key: String) async throws {
        let id = self.state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = self.state.withLock { state -> Result<Bool, CancellationError> in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    guard state.held[key] != nil else {
                        state.held[key] = []
                        return .success(true)
                    }
                    state.held[key, default: []].append(Waiter(id: id, continuation: continuation))
                    return .success(false)
                }
                switch outcome {
                case .success(true): continuation.resume()
                case .success(false): break
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            // Still waiting: leave the line. Already handed the lock: keep it; the body sees the cancellation.
            let waiter = self.state.withLock { state -> Waiter? in
                guard let index = state.held[key]?.firstIndex(where: { $0.id == id }) else { return nil }
                return state.held[key]?.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func release(_ key: String) {
        let next = self.state.withLock { state -> Waiter? in
            guard var waiters = state.held[key], !waiters.isEmpty else {
                state.held[key] = nil
                return nil
            }
            let first = waiters.removeFirst()
            state.held[key] = waiters
            return first
        }
        next?.continuation.resume()
    }
}
