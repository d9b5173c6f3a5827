import Synchronization

/// A value behind a lock, shareable between tasks (a `Mutex` in a class, so closures can capture it).
package final class LockedValue<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>

    /// Creates the box.
    package init(_ value: Value) {
        self.storage = Mutex(value)
    }

    /// Runs `body` with exclusive access to the value.
    package func withLock<Result: Sendable>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try self.storage.withLock { try body(&$0) }
    }

    /// The current value.
    package var value: Value { self.storage.withLock { $0 } }
}
