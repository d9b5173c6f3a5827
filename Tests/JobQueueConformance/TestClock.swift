import Foundation
import PipelineCore
import Synchronization

/// A clock that moves only when a test advances it.
package final class TestClock: Sendable {
    private let current: Mutex<Date>

    /// Creates a clock reading `start` (by default a whole second in 2027).
    package init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) {
        self.current = Mutex(start)
    }

    /// The time now.
    package func now() -> Date { self.current.withLock { $0 } }

    /// Moves the clock forward by `duration`.
    package func advance(by duration: Duration) {
        self.current.withLock { $0 = $0.addingTimeInterval(duration.seconds) }
    }
}
