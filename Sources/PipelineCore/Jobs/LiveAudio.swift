import Synchronization

/// Speech as a synthesis job produces it, for whoever in this process listens (the streaming speech routes).
///
/// A listener registers for the output key its job will write, before submitting the job, so no audio can come
/// before it listens. The worker feeds every block it writes, in order, at the job's output rate, and finishes the
/// channel when the job's audio is complete or has failed (the listener learns which from the job's state).
package final class LiveAudio: Sendable {
    private let listeners = Mutex<[String: AsyncChannel<[Float]>]>([:])

    /// Creates a registry with no listeners.
    package init() {}

    /// Listens for the audio of the job that writes `outputKey` in `bucket`; the channel ends when that job's audio
    /// is done. Call ``stopListening(bucket:outputKey:)`` when no longer interested.
    package func listen(bucket: String, outputKey: String) -> AsyncChannel<[Float]> {
        let channel = AsyncChannel<[Float]>()
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
        channel?.send(samples)
    }

    /// Ends the listener's channel for `outputKey`.
    package func finish(bucket: String, outputKey: String) {
        let channel = self.listeners.withLock { $0.removeValue(forKey: bucket + "/" + outputKey) }
        channel?.finish()
    }
}
