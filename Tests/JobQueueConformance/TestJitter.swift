import Synchronization

/// The jitter fraction a queue under test draws, set by the test (0 means the full backoff delay).
package final class TestJitter: Sendable {
    private let fraction = Mutex<Double>(0)

    /// Creates a jitter source that returns 0 until set.
    package init() {}

    /// The fraction the queue gets next.
    package func next() -> Double { self.fraction.withLock { $0 } }

    /// Sets the fraction returned from now on.
    package func set(_ value: Double) { self.fraction.withLock { $0 = value } }
}
