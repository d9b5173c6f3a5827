import Synchronization

/// How many ``Exchange``s are allocated.
final class ExchangeCounter: Sendable {
    private let count = Atomic(0)

    /// Adds `delta`.
    func add(_ delta: Int) { self.count.add(delta, ordering: .relaxed) }

    /// The count now.
    var current: Int { self.count.load(ordering: .relaxed) }
}
