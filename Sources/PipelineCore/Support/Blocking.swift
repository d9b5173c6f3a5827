import Dispatch
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

/// Runs blocking work (C calls, file I/O) on a Dispatch thread, off Swift's cooperative pool.
///
/// Cancelling the calling task sets the flag passed to `body`; `body` should poll it and throw
/// `CancellationError` promptly.
package func runBlocking<T: Sendable>(
    _ body: @escaping @Sendable (CancellationFlag) throws -> T
) async throws -> T {
    let flag = CancellationFlag()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result { try body(flag) })
            }
        }
    } onCancel: {
        flag.cancel()
    }
}
