import Dispatch
import Synchronization

/// Waits for `duration`; when the task is cancelled first, throws `CancellationError` at once and its timer is gone
/// with it.
///
/// `Task.sleep` on Linux also returns at once when cancelled, but the timer it armed, and the job that timer would
/// wake, stay allocated until the original deadline. A wait that is raced and lost many times a second (a lease's
/// 30 s idle timeout, woken by every database write; a synchronous route's 1,200 s limit, beaten by every job that
/// finishes) therefore held thousands of timers: 3,300 of them, 0.4 MB, after the soak's eight "hours". Every wait
/// the worker races against something else uses this instead.
package func sleepCancellably(for duration: Duration) async throws {
    let sleeper = Sleeper()
    try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            sleeper.start(continuation, after: duration)
        }
    } onCancel: {
        sleeper.end(cancelled: true)
    }
}

/// A count of the waits of ``sleepCancellably(for:)`` whose timer still exists, kept for the tasks that bind it to
/// ``current`` (a test's, so that other tests' waits do not move it): a cancelled wait must leave none behind.
package final class SleepTimerTally: Sendable {
    @TaskLocal package static var current: SleepTimerTally?

    private let count = Atomic<Int>(0)

    /// Creates a tally at zero.
    package init() {}

    /// Waits started under this tally whose timer has not been released.
    package var pending: Int { self.count.load(ordering: .relaxed) }

    fileprivate func add(_ delta: Int) { self.count.add(delta, ordering: .relaxed) }
}

/// One wait: a Dispatch timer that can be cancelled, and the continuation it resumes.
private final class Sleeper: Sendable {
    private let tally = SleepTimerTally.current

    private enum State {
        case starting
        case waiting(CheckedContinuation<Void, any Error>, Timer)
        case cancelledBeforeStart
        case ended
    }

    /// A Dispatch timer source, which Dispatch itself serializes.
    private struct Timer: @unchecked Sendable {
        let source: any DispatchSourceTimer
    }

    private static let queue = DispatchQueue(label: "audio-worker.sleep-timers")

    private let state = Mutex(State.starting)

    init() { self.tally?.add(1) }

    deinit { self.tally?.add(-1) }

    func start(_ continuation: CheckedContinuation<Void, any Error>, after duration: Duration) {
        let source = DispatchSource.makeTimerSource(queue: Self.queue)
        source.schedule(deadline: .now() + Self.interval(duration), leeway: .milliseconds(1))
        source.setEventHandler { [self] in self.end(cancelled: false) }
        let cancelled = self.state.withLock { state -> Bool in
            if case .cancelledBeforeStart = state {
                state = .ended
                return true
            }
            state = .waiting(continuation, Timer(source: source))
            return false
        }
        // A source is activated exactly once whatever happens next: Dispatch cannot release one that never was.
        source.activate()
        if cancelled {
            source.cancel()
            continuation.resume(throwing: CancellationError())
        }
    }

    /// Resumes the waiter once: normally when the timer fires, with `CancellationError` when the task is cancelled.
    func end(cancelled: Bool) {
        let waiting = self.state.withLock { state -> (CheckedContinuation<Void, any Error>, Timer)? in
            switch state {
            case .waiting(let continuation, let timer):
                state = .ended
                return (continuation, timer)
            case .starting:
                if cancelled {
                    state = .cancelledBeforeStart
                }
                return nil
            case .cancelledBeforeStart, .ended:
                return nil
            }
        }
        guard let (continuation, timer) = waiting else { return }
        timer.source.cancel()
        if cancelled {
            continuation.resume(throwing: CancellationError())
        } else {
            continuation.resume()
        }
    }

    /// `duration` as Dispatch's nanoseconds, clamped to a century (and to zero below).
    private static func interval(_ duration: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = duration.components
        let century: Int64 = 100 * 365 * 86_400
        if seconds < 0 { return .nanoseconds(0) }
        if seconds >= century { return .seconds(Int(century)) }
        return .nanoseconds(Int(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
    }
}
