import Synchronization

/// A first-in, first-out queue that several tasks may pop from.
package final class LockedQueue<Element: Sendable>: Sendable {
    private let elements: Mutex<[Element]>

    /// Creates a queue holding `elements` in order.
    package init(_ elements: [Element]) {
        self.elements = Mutex(elements.reversed())
    }

    /// Removes and returns the first element, or nil when empty.
    package func popFirst() -> Element? { self.elements.withLock { $0.popLast() } }
}
