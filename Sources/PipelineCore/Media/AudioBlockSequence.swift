/// Audio blocks pulled one at a time from a producer, with back-pressure.
///
/// Unlike `AsyncThrowingStream(unfolding:)`, cancellation is not turned into a quiet end: the producer's
/// `CancellationError` reaches the consumer, so a cancelled decode never looks like a complete one.
package struct AudioBlockSequence: AsyncSequence, Sendable {
    package typealias Element = AudioBlock
    package typealias Failure = any Error

    private let next: @Sendable () async throws -> AudioBlock?

    /// Creates a sequence that calls `next` for each block until it returns nil.
    package init(next: @escaping @Sendable () async throws -> AudioBlock?) {
        self.next = next
    }

    /// Creates a sequence over blocks already in memory, for tests and small inputs.
    package init(_ blocks: [AudioBlock]) {
        let remaining = LockedQueue(blocks)
        self.next = { remaining.popFirst() }
    }

    package func makeAsyncIterator() -> Iterator { Iterator(next: self.next) }

    /// Pulls the next block from the producer.
    package struct Iterator: AsyncIteratorProtocol {
        fileprivate let next: @Sendable () async throws -> AudioBlock?

        package mutating func next() async throws -> AudioBlock? { try await self.next() }
    }
}
