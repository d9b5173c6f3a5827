internal import CNATS
import Foundation
import PipelineCore

/// A subscription: either bound to a durable pull consumer (``pull(connection:stream:consumer:)``) or a synchronous
/// core-NATS subscription (``subscribe(connection:subject:)``); unsubscribed and freed when the last reference goes.
final class NATSSubscription: Sendable {
    private let subscription: NATSHandle
    // Keeps the connection open for as long as the subscription lives.
    private let connection: NATSConnection

    private init(_ subscription: NATSHandle, connection: NATSConnection) {
        self.subscription = subscription
        self.connection = connection
    }

    deinit {
        natsSubscription_Destroy(self.subscription.pointer)
    }

    /// Binds to the existing durable pull consumer `consumer` of `stream`.
    static func pull(connection: NATSConnection, stream: String, consumer: String) throws(NATSError)
        -> NATSSubscription
    {
        let cStream = strdup(stream)
        let cConsumer = strdup(consumer)
        defer {
            free(cStream)
            free(cConsumer)
        }
        var options = jsSubOptions()
        try check(jsSubOptions_Init(&options), "jsSubOptions_Init")
        options.Stream = UnsafePointer(cStream)
        options.Consumer = UnsafePointer(cConsumer)
        var subscription: OpaquePointer?
        var code = jsErrCode(0)
        try check(
            js_PullSubscribe(&subscription, connection.jetStream.pointer, nil, consumer, nil, &options, &code),
            "js_PullSubscribe", code: code)
        guard let subscription else { throw NATSError(operation: "js_PullSubscribe", status: NATS_ERR) }
        return NATSSubscription(NATSHandle(subscription), connection: connection)
    }

    /// Subscribes to `subject` for polling with ``next()``.
    static func subscribe(connection: NATSConnection, subject: String) throws(NATSError) -> NATSSubscription {
        var subscription: OpaquePointer?
        try check(
            natsConnection_SubscribeSync(&subscription, connection.connection.pointer, subject),
            "natsConnection_SubscribeSync")
        guard let subscription else { throw NATSError(operation: "natsConnection_SubscribeSync", status: NATS_ERR) }
        // The subscription is registered once the server has seen it, so nothing published after this is missed.
        try check(natsConnection_FlushTimeout(connection.connection.pointer, 5000), "natsConnection_Flush")
        return NATSSubscription(NATSHandle(subscription), connection: connection)
    }

    /// The longest single pull request of a long wait: how soon a set cancellation flag is noticed. An idle worker
    /// sends one request per slice; at 250 ms an idle `serve` and its nats-server used 0.27 s of CPU a minute.
    static let fetchSlice = Duration.seconds(1)

    /// Fetches up to `batch` messages from the pull consumer, waiting until `deadline` for the first; empty when none
    /// came.
    ///
    /// Messages already waiting are taken together, in one request that does not wait; only when there are none does
    /// it wait, for one message, which the server sends as soon as it has it. The wait is cut into short requests so
    /// that a set `flag` ends it promptly with `CancellationError`. The caller owns the returned messages and must
    /// ``NATSMessage/destroy(_:)`` each.
    func fetch(batch: Int, until deadline: ContinuousClock.Instant, flag: CancellationFlag) throws -> [NATSHandle] {
        if batch > 1, self.pendingReplies() == 0 {
            let waiting = try self.request(batch: batch, wait: nil)
            if !waiting.isEmpty { return waiting }
        }
        var first = true
        while true {
            if flag.isCancelled { throw CancellationError() }
            let remaining = ContinuousClock.now.duration(to: deadline)
            let noWait = remaining <= .zero
            if noWait && !first { return [] }
            first = false
            let messages = try self.request(batch: 1, wait: noWait ? nil : min(remaining, Self.fetchSlice))
            if !messages.isEmpty || noWait { return messages }
        }
    }

    /// Messages the client has received for this subscription that no fetch has taken: late answers to a request whose
    /// wait had ended. nats.c's fetch takes them first and then asks for the rest of its batch, and with such late
    /// answers still arriving a batch of more than one can receive more messages than it has room for; a fetch made
    /// while there are any asks for one message only.
    private func pendingReplies() -> Int32 {
        var messages: Int32 = 0
        var bytes: Int32 = 0
        guard natsSubscription_GetPending(self.subscription.pointer, &messages, &bytes) == NATS_OK else { return 1 }
        return messages
    }

    /// One pull request for up to `batch` messages: answered at once with what is there when `wait` is nil, else held
    /// by the server until the first message or the end of `wait`.
    private func request(batch: Int, wait: Duration?) throws -> [NATSHandle] {
        var request = jsFetchRequest()
        try check(jsFetchRequest_Init(&request), "jsFetchRequest_Init")
        request.Batch = Int32(clamping: batch)
        if let wait {
            request.Expires = Int64(wait.seconds * 1e9)
        } else {
            // Asks the server to answer at once, with messages or with "none". The server holds a no-wait request
            // that finds nothing until its expiry while other messages await their acknowledgement, so the expiry is
            // short (it was 2 s: a 2 s stall for each empty look while other workers held jobs); nats.c waits that
            // long for the answer, and gives the server 10 ms less, so the answer is read, not left for the next fetch.
            request.NoWait = true
            request.Expires = 50_000_000
        }
        var list = natsMsgList()
        let status = natsSubscription_FetchRequest(&list, self.subscription.pointer, &request)
        defer { natsMsgList_Destroy(&list) }
        if status == NATS_TIMEOUT || status == NATS_NOT_FOUND { return [] }
        try check(status, "natsSubscription_FetchRequest")
        var messages: [NATSHandle] = []
        for index in 0..<max(Int(list.Count), 0) {
            guard let message = list.Msgs[index] else { continue }
            // The list no longer owns a message once taken out of it.
            list.Msgs[index] = nil
            if messages.count < batch {
                messages.append(NATSHandle(message))
            } else {
                // More than asked for: returned for redelivery rather than held.
                natsMsg_Nak(message, nil)
                natsMsg_Destroy(message)
            }
        }
        return messages
    }

    /// The body of the next message already received on a core subscription, or nil when none is waiting.
    func next() throws(NATSError) -> Data? {
        var message: OpaquePointer?
        let status = natsSubscription_NextMsg(&message, self.subscription.pointer, 0)
        if status == NATS_TIMEOUT { return nil }
        try check(status, "natsSubscription_NextMsg")
        defer { natsMsg_Destroy(message) }
        return NATSMessage.body(of: message)
    }
}
