import Foundation
import Synchronization

/// A counter of changes that tasks can wait on: "tell me when something changed after what I saw".
///
/// A queue bumps it when work may have become runnable (an enqueue here, or another process's write seen by a
/// file watcher); a waiting `lease` wakes at once instead of polling.
package final class ChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextWaiter: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
    }

    private let state = Mutex(State())

    /// Creates a signal at generation zero.
    package init() {}

    /// The number of changes so far.
    package var generation: UInt64 { self.state.withLock { $0.generation } }

    /// Records a change and wakes every waiter.
    package func notify() {
        let waiters = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.resume()
        }
    }

    /// Returns once the generation differs from `seen`, or after `timeout`, or when the task is cancelled.
    package func wait(after seen: UInt64, timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait(after: seen) }
            group.addTask { try? await sleepCancellably(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    /// Returns once the generation differs from `seen`, or when the task is cancelled.
    package func wait(after seen: UInt64) async {
        let id = self.state.withLock { state -> UInt64 in
            state.nextWaiter &+= 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = self.state.withLock { state -> Bool in
                    if state.generation != seen || Task.isCancelled { return true }
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
