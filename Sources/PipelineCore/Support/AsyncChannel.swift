import Synchronization

/// A queue from producers to one consumer at a time: `send` never waits, `receive` waits for the next element.
///
/// Unlike an `AsyncStream` iterator, the channel itself is what the consumer holds, so one task may receive the
/// first element and another (later, not at the same time) the rest: an HTTP route that waits for the first block
/// of speech before answering, then streams the remainder from its response body.
package final class AsyncChannel<Element: Sendable>: Sendable {
    private struct State {
        var buffer: [Element] = []
        var finished = false
        var waiter: CheckedContinuation<Element?, Never>?
    }

    private let state = Mutex(State())

    /// Creates an empty, open channel.
    package init() {}

    /// Appends `element`, or hands it to the waiting consumer; ignored after ``finish()``.
    package func send(_ element: Element) {
        let waiter = self.state.withLock { state -> CheckedContinuation<Element?, Never>? in
            guard !state.finished else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.buffer.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    /// Ends the channel: the consumer gets what is buffered, then nil.
    package func finish() {
        let waiter = self.state.withLock { state -> CheckedContinuation<Element?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next element; nil once the channel is finished and drained, or when the calling task is cancelled.
    package func receive() async -> Element? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Element?, Never>) in
                let ready = self.state.withLock { state -> (Bool, Element?) in
                    if !state.buffer.isEmpty {
                        return (true, state.buffer.removeFirst())
                    }
                    if state.finished || Task.isCancelled {
                        return (true, nil)
                    }
                    state.waiter = continuation
                    return (false, nil)
                }
                if ready.0 {
                    continuation.resume(returning: ready.1)
                }
            }
        } onCancel: {
            let waiter = self.state.withLock { state -> CheckedContinuation<Element?, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}
