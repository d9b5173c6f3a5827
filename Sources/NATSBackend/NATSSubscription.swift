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

    /// Fetches one message from the pull consumer, waiting until `deadline`; nil when none came.
    ///
    /// The wait is cut into short requests so that a set `flag` ends it promptly with `CancellationError`. The
    /// caller owns the returned message and must ``NATSMessage/destroy(_:)`` it.
    func fetch(until deadline: ContinuousClock.Instant, flag: CancellationFlag) throws -> NATSHandle? {
        var first = true
        while true {
            if flag.isCancelled { throw CancellationError() }
            let remaining = ContinuousClock.now.duration(to: deadline)
            let noWait = remaining <= .zero
            if noWait && !first { return nil }
            first = false
            var request = jsFetchRequest()
            try check(jsFetchRequest_Init(&request), "jsFetchRequest_Init")
            request.Batch = 1
            if noWait {
                // Asks the server to answer at once, with a message or with "none". The server holds a no-wait
                // request that finds nothing until its expiry while other messages await their acknowledgement, so
                // the expiry is short: at 2 s, every empty look stalled 2 s while other workers held jobs. nats.c
                // waits that long for the answer and gives the server 10 ms less, so the answer is read here and
                // not left for the next fetch.
                request.NoWait = true
                request.Expires = 50_000_000
            } else {
                request.Expires = Int64(min(remaining, Self.fetchSlice).seconds * 1e9)
            }
            var list = natsMsgList()
            let status = natsSubscription_FetchRequest(&list, self.subscription.pointer, &request)
            defer { natsMsgList_Destroy(&list) }
            if status == NATS_TIMEOUT || status == NATS_NOT_FOUND {
                if noWait { return nil }
                continue
            }
            try check(status, "natsSubscription_FetchRequest")
            guard list.Count > 0, let message = list.Msgs[0] else { continue }
            // The list no longer owns the message once taken out of it.
            list.Msgs[0] = nil
            for index in 1..<max(Int(list.Count), 1) {
                if let extra = list.Msgs[index] {
                    // Batch is 1; anything more is returned for redelivery rather than held.
                    natsMsg_Nak(extra, nil)
                }
            }
            return NATSHandle(message)
        }
    }

    /// Whether messages have arrived on the subscription that no fetch has taken yet.
    var hasPending: Bool {
        var messages: Int32 = 0
        var bytes: Int32 = 0
        return natsSubscription_GetPending(self.subscription.pointer, &messages, &bytes) == NATS_OK && messages > 0
    }

    /// The body of the next message received on a core subscription, waiting up to `timeout` for one (by default
    /// not at all), or nil when none came.
    func next(timeout: Duration = .zero) throws(NATSError) -> Data? {
        var message: OpaquePointer?
        let status = natsSubscription_NextMsg(
            &message, self.subscription.pointer, Int64((timeout.seconds * 1000).rounded()))
        if status == NATS_TIMEOUT { return nil }
        try check(status, "natsSubscription_NextMsg")
        defer { natsMsg_Destroy(message) }
        return NATSMessage.body(of: message)
    }
}
