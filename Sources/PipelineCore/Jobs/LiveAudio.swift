import Synchronization

/// Speech as a synthesis job produces it, for whoever in this process listens (the streaming speech routes).
///
/// A listener registers for the output key its job will write, before submitting the job, so no audio can come
/// before it listens. The worker feeds every block it writes, in order, at the job's output rate, then says whether
/// the audio is complete; an attempt that fails midway ends the listener's audio as incomplete (a retried attempt
/// does not stream again: the listener reads the stored file, or reports the failure).
package final class LiveAudio: Sendable {
    /// What a listener receives.
    package enum Block: Sendable {
        /// Samples at the job's output rate, in order.
        case samples([Float])
        /// The end: `complete` when the whole text was spoken.
        case end(complete: Bool)
    }

    private let listeners = Mutex<[String: AsyncChannel<Block>]>([:])

    /// Creates a registry with no listeners.
    package init() {}

    /// Listens for the audio of the job that writes `outputKey` in `bucket`. Call
    /// ``stopListening(bucket:outputKey:)`` when no longer interested.
    package func listen(bucket: String, outputKey: String) -> AsyncChannel<Block> {
        let channel = AsyncChannel<Block>()
        self.listeners.withLock { $0[bucket + "/" + outputKey] = channel }
        return channel
    }

    /// Drops the listener for `outputKey` (the client went away); the job goes on.
    package func stopListening(bucket: String, outputKey: String) {
        let channel = self.listeners.withLock { $0.removeValue(forKey: bucket + "/" + outputKey) }
        channel?.finish()
    }

    /// Whether anyone listens for `outputKey`, so the worker can skip the copies when no one does.
    package func isListened(bucket: String, outputKey: String) -> Bool {
        self.listeners.withLock { $0[bucket + "/" + outputKey] != nil }
    }

    /// Hands `samples` to the listener of `outputKey`, if there is one.
    package func feed(bucket: String, outputKey: String, _ samples: [Float]) {
        let channel = self.listeners.withLock { $0[bucket + "/" + outputKey] }
        channel?.send(.samples(samples))
    }

    /// Ends the listener's audio for `outputKey`, complete or not, and forgets the listener.
    package func end(bucket: String, outputKey: String, complete: Bool) {
        let channel = self.listeners.withLock { $0.removeValue(forKey: bucket + "/" + outputKey) }
        channel?.send(.end(complete: complete))
        channel?.finish()
    }
}
