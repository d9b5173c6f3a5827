import Foundation
import Synchronization

/// A flag that blocking work polls to learn that its task was cancelled.
package final class CancellationFlag: Sendable {
    private let state = Atomic<Bool>(false)

    /// Creates a flag that is not set.
    package init() {}

    /// Sets the flag; idempotent.
    package func cancel() { self.state.store(true, ordering: .relaxed) }

    /// Whether the flag is set.
    package var isCancelled: Bool { self.state.load(ordering: .relaxed) }
}

/// A fixed number of threads that run blocking work (C calls, file I/O) off Swift's cooperative pool.
///
/// Work waits in order for a free thread, so the pool bounds how much blocking work runs at once. Cancelling the
/// waiting task sets the work's ``CancellationFlag``; work that has not started yet is dropped and throws
/// `CancellationError` at once, work that is running should poll the flag and stop promptly. The threads end once
/// the pool is gone and its queued work is done.
package final class BlockingPool: Sendable {
    /// One queued piece of work: runs with `true` when it was cancelled before it started.
    private struct Item: Sendable {
        var id: UInt64
        var run: @Sendable (_ cancelledBeforeStart: Bool) -> Void
    }

    private struct State {
        var items: [Item] = []
        var nextID: UInt64 = 0
        var stopped = false
    }

    /// What the threads share with the pool; they hold this, not the pool, so the pool can go away.
    private final class Shared: Sendable {
        let condition = NSCondition()
        let state = Mutex(State())
        let spins: Int

        init(spins: Int) {
            self.spins = spins
        }

        func enqueue(_ item: Item) {
            self.condition.lock()
            self.state.withLock { $0.items.append(item) }
            self.condition.signal()
            self.condition.unlock()
        }

        func remove(_ id: UInt64) -> Item? {
            self.condition.lock()
            defer { self.condition.unlock() }
            return self.state.withLock { state -> Item? in
                guard let index = state.items.firstIndex(where: { $0.id == id }) else { return nil }
                return state.items.remove(at: index)
            }
        }

        func stop() {
            self.condition.lock()
            self.state.withLock { $0.stopped = true }
            self.condition.broadcast()
            self.condition.unlock()
        }

        /// The next item, waiting for one; nil once the pool is stopped and drained.
        func next() -> Item? {
            // Short calls come in bursts (a lease, a settle, a checkpoint): look again for a moment, yielding the
            // core, before sleeping, since waking a sleeping thread costs more than such a call (measured: 46 µs a
            // call through a sleeping thread, 21 µs with 200 looks, Dispatch's global queue 20 µs). Idle, it sleeps.
            for _ in 0..<self.spins {
                if let item = self.state.withLock({ $0.items.isEmpty ? nil : $0.items.removeFirst() }) {
                    return item
                }
                sched_yield()
            }
            self.condition.lock()
            defer { self.condition.unlock() }
            while true {
                let (item, stopped) = self.state.withLock { state -> (Item?, Bool) in
                    (state.items.isEmpty ? nil : state.items.removeFirst(), state.stopped)
                }
                if let item { return item }
                if stopped { return nil }
                self.condition.wait()
            }
        }
    }

    /// The pool most blocking work uses: as many threads as the process may need at once for storage, media and
    /// queue calls, so that no caller waits long for another's file copy.
    package static let shared = BlockingPool(name: "audio-worker.blocking", threads: 16)

    /// The threads' name, for debuggers.
    package let name: String
    private let shared: Shared

    /// Starts `threads` threads; an idle thread looks for new work `spins` times (yielding) before it sleeps, which
    /// makes a pool of many tiny calls (a database connection's) as quick as Dispatch at the price of a little CPU
    /// after each burst.
    package init(name: String, threads: Int, spins: Int = 0) {
        self.name = name
        self.shared = Shared(spins: max(spins, 0))
        let shared = self.shared
        for index in 0..<max(threads, 1) {
            let thread = Thread {
                while let item = shared.next() {
                    item.run(false)
                }
            }
            thread.name = "\(name)-\(index)"
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit {
        self.shared.stop()
    }

    /// Runs `body` on one of the pool's threads and returns its result.
    package func run<T: Sendable>(_ body: @escaping @Sendable (CancellationFlag) throws -> T) async throws -> T {
        let flag = CancellationFlag()
        let id = self.shared.state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        let shared = self.shared
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                shared.enqueue(
                    Item(id: id) { cancelledBeforeStart in
                        if cancelledBeforeStart {
                            continuation.resume(throwing: CancellationError())
                        } else {
                            continuation.resume(with: Result { try body(flag) })
                        }
                    })
            }
        } onCancel: {
            flag.cancel()
            // Work still waiting for a thread is dropped now rather than started only to notice the flag.
            shared.remove(id)?.run(true)
        }
    }

    /// Queues `work` for a thread without waiting for it; the caller arranges to learn when it is done.
    package func execute(_ work: @escaping @Sendable () -> Void) {
        self.shared.enqueue(Item(id: 0) { _ in work() })
    }

    /// How many items wait for a thread now (for tests and metrics).
    package var waiting: Int { self.shared.state.withLock { $0.items.count } }
}

/// Runs blocking work on ``BlockingPool/shared``; see ``BlockingPool/run(_:)``.
package func runBlocking<T: Sendable>(
    _ body: @escaping @Sendable (CancellationFlag) throws -> T
) async throws -> T {
    try await BlockingPool.shared.run(body)
}
