internal import CNATS
import Foundation
import PipelineCore

/// One connection to a NATS server with its JetStream context; closed and freed when the last reference goes.
///
/// Every call blocks on the network: callers run them on a ``BlockingPool`` thread, never on the cooperative pool.
final class NATSConnection: Sendable {
    /// The `natsConnection`.
    let connection: NATSHandle
    /// The `jsCtx` made from it.
    let jetStream: NATSHandle

    /// Starts the library once, before the first connection, with no spinning on its locks: a worker's many threads
    /// (lease, heartbeat, settle, events) share one connection's lock, and on a machine with few cores a thread that
    /// spins for it holds back the very thread that would release it. With the library's default spin count, lock
    /// spinning was 11 % of a busy queue's CPU time here. Its status is not kept: if it fails, the first
    /// connection opens the library with the default spin count, which works all the same.
    private static let library: Void = { _ = nats_Open(0) }()

    /// Connects as `settings` say (URL with optional user and password, token, or creds file) and opens JetStream.
    init(settings: NATSSettings) throws(NATSError) {
        Self.library
        var options: OpaquePointer?
        try check(natsOptions_Create(&options), "natsOptions_Create")
        defer { natsOptions_Destroy(options) }
        let servers = settings.servers
        if servers.count > 1 {
            // A cluster's seed list, as other NATS clients take it: "nats://a:4222,nats://b:4222".
            var list: [UnsafePointer<CChar>?] = servers.map { UnsafePointer(strdup($0)) }
            defer { for server in list { free(UnsafeMutablePointer(mutating: server)) } }
            let status = list.withUnsafeMutableBufferPointer { buffer in
                natsOptions_SetServers(options, buffer.baseAddress, Int32(buffer.count))
            }
            try check(status, "natsOptions_SetServers")
        } else {
            try check(natsOptions_SetURL(options, servers.first ?? settings.url), "natsOptions_SetURL")
        }
        try check(natsOptions_SetTimeout(options, 5000), "natsOptions_SetTimeout")
        if let token = settings.token {
            try check(natsOptions_SetToken(options, token.reveal()), "natsOptions_SetToken")
        }
        if let credentials = settings.credentialsFile {
            try check(
                natsOptions_SetUserCredentialsFromFiles(options, credentials, nil),
                "natsOptions_SetUserCredentialsFromFiles")
        }
        var connection: OpaquePointer?
        try check(natsConnection_Connect(&connection, options), "natsConnection_Connect")
        guard let connection else { throw NATSError(operation: "natsConnection_Connect", status: NATS_ERR) }
        var context: OpaquePointer?
        let status = natsConnection_JetStream(&context, connection, nil)
        guard status == NATS_OK, let context else {
            natsConnection_Destroy(connection)
            throw NATSError(operation: "natsConnection_JetStream", status: status)
        }
        self.connection = NATSHandle(connection)
        self.jetStream = NATSHandle(context)
    }

    deinit {
        jsCtx_Destroy(self.jetStream.pointer)
        natsConnection_Close(self.connection.pointer)
        natsConnection_Destroy(self.connection.pointer)
    }

    /// Creates the work-queue stream `name` on `subjects` unless it exists; `maxAge` bounds how long a message is kept.
    func ensureWorkQueueStream(
        name: String, subjects: [String], replicas: Int, maxAge: Duration? = nil
    ) throws(NATSError) {
        var info: UnsafeMutablePointer<jsStreamInfo>?
        var code = jsErrCode(0)
        var found = js_GetStreamInfo(&info, self.jetStream.pointer, name, nil, &code)
        // A cluster that has just formed or lost a leader may let its first API requests time out: ask twice more.
        for _ in 0..<2 where found == NATS_TIMEOUT {
            code = jsErrCode(0)
            found = js_GetStreamInfo(&info, self.jetStream.pointer, name, nil, &code)
        }
        if found == NATS_OK {
            jsStreamInfo_Destroy(info)
            return
        }
        guard found == NATS_NOT_FOUND else { throw NATSError(operation: "js_GetStreamInfo", status: found, code: code) }
        let cName = strdup(name)
        var cSubjects: [UnsafePointer<CChar>?] = subjects.map { UnsafePointer(strdup($0)) }
        defer {
            free(cName)
            for subject in cSubjects { free(UnsafeMutablePointer(mutating: subject)) }
        }
        var config = jsStreamConfig()
        try check(jsStreamConfig_Init(&config), "jsStreamConfig_Init")
        config.Name = UnsafePointer(cName)
        config.Retention = js_WorkQueuePolicy
        config.Storage = js_FileStorage
        config.Replicas = Int64(replicas)
        if let maxAge { config.MaxAge = Int64(maxAge.seconds * 1e9) }
        let status = cSubjects.withUnsafeMutableBufferPointer { buffer in
            config.Subjects = buffer.baseAddress
            config.SubjectsLen = Int32(buffer.count)
            return js_AddStream(&info, self.jetStream.pointer, &config, nil, &code)
        }
        if status != NATS_OK {
            // Another process starting at the same moment may have made it first ("subjects overlap", "name
            // already in use"): then it is there now.
            var made: UnsafeMutablePointer<jsStreamInfo>?
            var again = jsErrCode(0)
            if js_GetStreamInfo(&made, self.jetStream.pointer, name, nil, &again) == NATS_OK {
                jsStreamInfo_Destroy(made)
                return
            }
        }
        try check(status, "js_AddStream", code: code)
        jsStreamInfo_Destroy(info)
    }

    /// Creates or updates the durable pull consumer `name` on `stream`: explicit ack, `ackWait`, `maxDeliveries`.
    func ensurePullConsumer(
        stream: String, name: String, ackWait: Duration, maxDeliveries: Int, replicas: Int
    ) throws(NATSError) {
        let cName = strdup(name)
        defer { free(cName) }
        var config = jsConsumerConfig()
        try check(jsConsumerConfig_Init(&config), "jsConsumerConfig_Init")
        config.Durable = UnsafePointer(cName)
        config.AckPolicy = js_AckExplicit
        config.AckWait = Int64(ackWait.seconds * 1e9)
        config.MaxDeliver = Int64(maxDeliveries)
        config.MaxAckPending = -1
        config.Replicas = Int64(replicas)
        var info: UnsafeMutablePointer<jsConsumerInfo>?
        var code = jsErrCode(0)
        var status = js_AddConsumer(&info, self.jetStream.pointer, stream, &config, nil, &code)
        if status != NATS_OK {
            // A consumer made earlier with another visibility: bring it to this configuration.
            code = jsErrCode(0)
            status = js_UpdateConsumer(&info, self.jetStream.pointer, stream, &config, nil, &code)
        }
        try check(status, "js_AddConsumer", code: code)
        jsConsumerInfo_Destroy(info)
    }

    /// Publishes `data` to `subject` through JetStream with `Nats-Msg-Id` = `messageID`; returns the stream sequence
    /// (the earlier one when the server recognised the id as a duplicate).
    @discardableResult
    func publish(_ data: Data, to subject: String, messageID: String) throws(NATSError) -> UInt64 {
        var options = jsPubOptions()
        try check(jsPubOptions_Init(&options), "jsPubOptions_Init")
        var acknowledgement: UnsafeMutablePointer<jsPubAck>?
        var code = jsErrCode(0)
        let status = messageID.withCString { id in
            options.MsgId = id
            return data.withUnsafeBytes { bytes in
                js_Publish(
                    &acknowledgement, self.jetStream.pointer, subject, bytes.baseAddress, Int32(bytes.count),
                    &options, &code)
            }
        }
        try check(status, "js_Publish", code: code)
        defer { jsPubAck_Destroy(acknowledgement) }
        return acknowledgement?.pointee.Sequence ?? 0
    }

    /// Publishes `data` to `subject` on core NATS, fire and forget: the client buffers it (also while reconnecting)
    /// and nothing confirms delivery.
    func publishCore(_ data: Data, to subject: String) throws(NATSError) {
        let status = data.withUnsafeBytes { bytes in
            natsConnection_Publish(self.connection.pointer, subject, bytes.baseAddress, Int32(bytes.count))
        }
        try check(status, "natsConnection_Publish")
    }

    /// Whether the connection is closed for good (the client gave up reconnecting), so a new one must be made.
    var isClosed: Bool { natsConnection_IsClosed(self.connection.pointer) }

    /// The body of the message at `sequence` in `stream`, or nil if it is gone.
    func message(stream: String, sequence: UInt64) throws(NATSError) -> Data? {
        var message: OpaquePointer?
        var code = jsErrCode(0)
        let status = js_GetMsg(&message, self.jetStream.pointer, stream, sequence, nil, &code)
        if status == NATS_NOT_FOUND { return nil }
        try check(status, "js_GetMsg", code: code)
        defer { natsMsg_Destroy(message) }
        return NATSMessage.body(of: message)
    }

    /// Removes the message at `sequence` from `stream`; a message already gone is not an error.
    func deleteMessage(stream: String, sequence: UInt64) throws(NATSError) {
        var code = jsErrCode(0)
        let status = js_DeleteMsg(self.jetStream.pointer, stream, sequence, nil, &code)
        if status == NATS_NOT_FOUND { return }
        try check(status, "js_DeleteMsg", code: code)
    }
}
