import Foundation
import Synchronization

/// A request to stop, shared by whoever asks (a signal handler) and whoever obeys (the worker loop).
package final class ShutdownSignal: Sendable {
    private let state = Mutex<(requested: Bool, waiters: [UUID: CheckedContinuation<Void, Never>])>((false, [:]))

    /// Creates a signal that has not been raised.
    package init() {}

    /// Raises the signal; idempotent.
    package func request() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.requested else { return [] }
            state.requested = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.resume()
        }
    }

    /// Whether the signal has been raised.
    package var isRequested: Bool { self.state.withLock { $0.requested } }

    /// Returns once the signal is raised (at once if it already was), or when the calling task is cancelled.
    package func wait() async {
        let id = UUID()
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.requested || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow {
                    continuation.resume()
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume()
        }
    }
}
