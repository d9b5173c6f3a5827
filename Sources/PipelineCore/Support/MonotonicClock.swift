import Synchronization

/// The worker's view of time for backoff, timeouts and cool-downs: a monotonic reading and a way to wait.
///
/// ``SystemClock`` is the real one; tests inject ``ManualClock``, which records waits and returns at once.
package protocol MonotonicClock: Sendable {
    /// Time since an arbitrary, fixed origin.
    var now: Duration { get }
    /// Waits for `duration`; throws `CancellationError` if the task is cancelled first.
    func sleep(for duration: Duration) async throws
}

/// Real time, from `ContinuousClock`.
package struct SystemClock: MonotonicClock {
    private let origin = ContinuousClock.now

    /// Creates a clock whose origin is now.
    package init() {}

    package var now: Duration { self.origin.duration(to: .now) }

    package func sleep(for duration: Duration) async throws {
        try await sleepCancellably(for: duration)
    }
}

/// A clock that only moves when it is told to or when someone sleeps on it; it records every sleep.
package final class ManualClock: MonotonicClock {
    private let state = Mutex<(now: Duration, sleeps: [Duration])>((.zero, []))

    /// Creates a clock at time zero.
    package init() {}

    package var now: Duration { self.state.withLock { $0.now } }

    /// Every duration slept so far, in order.
    package var sleeps: [Duration] { self.state.withLock { $0.sleeps } }

    /// Moves time forward.
    package func advance(by duration: Duration) {
        self.state.withLock { $0.now += duration }
    }

    package func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        self.state.withLock {
            $0.sleeps.append(duration)
            $0.now += max(duration, .zero)
        }
        await Task.yield()
    }
}
