/// A request to stop, shared by whoever asks (a signal handler) and whoever obeys (the worker loop).
///
/// A change signal that only ever moves once: raised means any change at all.
package final class ShutdownSignal: Sendable {
    private let changes = ChangeSignal()

    /// Creates a signal that has not been raised.
    package init() {}

    /// Raises the signal; idempotent.
    package func request() {
        self.changes.notify()
    }

    /// Whether the signal has been raised.
    package var isRequested: Bool { self.changes.generation != 0 }

    /// Returns once the signal is raised (at once if it already was), or when the calling task is cancelled.
    package func wait() async {
        await self.changes.wait(after: 0)
    }
}
