internal import CNATS
import Foundation
import PipelineCore

/// Bumps a ``ChangeSignal`` for every message on a subject (the ledger bucket's `$KV.<bucket>.job.>`), whichever
/// process wrote it; unsubscribed when the last reference goes.
///
/// A core-NATS asynchronous subscription: the client's delivery thread runs the callback as messages arrive, so an
/// idle feed costs nothing, neither a poll nor a wake-up. The callback's context holds the signal retained, and the
/// subscription's completion callback (run after the last message callback) releases it.
final class NATSChangeFeed: Sendable {
    /// Bumped once per message.
    let signal: ChangeSignal
    private let subscription: NATSHandle
    // Keeps the connection open for as long as the subscription lives.
    private let connection: NATSConnection

    /// Subscribes to `subject` on `connection`.
    init(connection: NATSConnection, subject: String) throws(NATSError) {
        let signal = ChangeSignal()
        let context = Unmanaged.passRetained(signal).toOpaque()
        var subscription: OpaquePointer?
        let status = natsConnection_Subscribe(
            &subscription, connection.connection.pointer, subject,
            { _, _, message, context in
                natsMsg_Destroy(message)
                guard let context else { return }
                Unmanaged<ChangeSignal>.fromOpaque(context).takeUnretainedValue().notify()
            }, context)
        guard status == NATS_OK, let subscription else {
            Unmanaged<ChangeSignal>.fromOpaque(context).release()
            throw NATSError(operation: "natsConnection_Subscribe", status: status)
        }
        let completion = natsSubscription_SetOnCompleteCB(
            subscription,
            { context in
                guard let context else { return }
                Unmanaged<ChangeSignal>.fromOpaque(context).release()
            }, context)
        guard completion == NATS_OK else {
            // Without a completion callback nothing would release the context: keep it (one small object) rather
            // than free it under a callback that may still run.
            natsSubscription_Unsubscribe(subscription)
            natsSubscription_Destroy(subscription)
            throw NATSError(operation: "natsSubscription_SetOnCompleteCB", status: completion)
        }
        self.signal = signal
        self.subscription = NATSHandle(subscription)
        self.connection = connection
    }

    deinit {
        natsSubscription_Unsubscribe(self.subscription.pointer)
        natsSubscription_Destroy(self.subscription.pointer)
    }
}
