import PipelineCore
import Synchronization

extension JetStreamJobQueue {
    /// A signal bumped by every write to a job record in the ledger bucket, by any process; nil when the subscription
    /// cannot be made (waiters then fall back to their timeout).
    ///
    /// Every KV write is a message on `$KV.<bucket>.<key>`, so a plain subscription to the job records' keys hears
    /// each one as the server stores it; checkpoints and idempotency claims do not wake anyone. The first call
    /// subscribes, later ones share that subscription.
    package func watchChanges() -> ChangeSignal? {
        self.changeFeed.withLock { feed -> NATSChangeFeed? in
            if feed == nil {
                feed = .some(
                    try? NATSChangeFeed(
                        connection: self.connection, subject: "$KV.\(self.settings.bucket).\(LedgerKey.job(">"))"))
            }
            return feed ?? nil
        }?.signal
    }
}
