import Synchronization

/// Skips providers that keep failing: after `failureThreshold` consecutive failures a provider's circuit opens for
/// `coolDown`; then one trial request is let through (half-open), and its outcome closes or re-opens the circuit.
///
/// Shared by every chain in the process, keyed by `model/provider`.
package final class CircuitBreaker: Sendable {
    /// A circuit's state, as `config check` and logs show it.
    package enum State: Sendable, Equatable {
        case closed(failures: Int)
        case open(until: Duration)
        case halfOpen
    }

    private let states = Mutex<[String: State]>([:])
    private let failureThreshold: Int
    private let coolDown: Duration
    private let clock: any MonotonicClock

    /// Creates a breaker.
    package init(failureThreshold: Int, coolDown: Duration, clock: any MonotonicClock) {
        self.failureThreshold = max(failureThreshold, 1)
        self.coolDown = coolDown
        self.clock = clock
    }

    /// Every circuit that has seen a request, by `model/provider`.
    package var snapshot: [String: State] { self.states.withLock { $0 } }

    /// Whether a request to `key` may go out now; an open circuit past its cool-down lets exactly one through.
    package func admit(_ key: String) -> Bool {
        let now = self.clock.now
        return self.states.withLock { states in
            switch states[key] ?? .closed(failures: 0) {
            case .closed:
                return true
            case .open(let until) where now >= until:
                states[key] = .halfOpen
                return true
            case .open, .halfOpen:
                return false
            }
        }
    }

    /// Records a success: the circuit closes.
    package func recordSuccess(_ key: String) {
        self.states.withLock { $0[key] = .closed(failures: 0) }
    }

    /// Records a failure: the circuit opens at the threshold, or again after a failed trial.
    package func recordFailure(_ key: String) {
        let until = self.clock.now + self.coolDown
        self.states.withLock { states in
            switch states[key] ?? .closed(failures: 0) {
            case .closed(let failures) where failures + 1 < self.failureThreshold:
                states[key] = .closed(failures: failures + 1)
            case .closed, .halfOpen, .open:
                states[key] = .open(until: until)
            }
        }
    }

    /// Returns a trial slot unused (the request never went out), so the circuit can try again.
    package func releaseTrial(_ key: String) {
        self.states.withLock { states in
            if states[key] == .halfOpen {
                states[key] = .open(until: self.clock.now)
            }
        }
    }

    /// The circuit's current state.
    package func state(of key: String) -> State {
        self.states.withLock { $0[key] ?? .closed(failures: 0) }
    }
}
