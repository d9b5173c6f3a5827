internal import CNATS
import Foundation

/// A JetStream KV bucket: get, create, compare-and-set, put, delete, and a scan by key prefix.
final class NATSBucket: Sendable {
    private let store: NATSHandle
    // Keeps the connection open for as long as the bucket handle lives.
    private let connection: NATSConnection
    /// The bucket's name: its keys are the subjects `$KV.<name>.<key>` of its stream.
    private let name: String

    /// Opens bucket `name`, creating it (with `replicas`) if it does not exist.
    init(connection: NATSConnection, name: String, replicas: Int) throws(NATSError) {
        var store: OpaquePointer?
        var status = js_KeyValue(&store, connection.jetStream.pointer, name)
        if status == NATS_NOT_FOUND {
            let cName = strdup(name)
            defer { free(cName) }
            var config = kvConfig()
            try check(kvConfig_Init(&config), "kvConfig_Init")
            config.Bucket = UnsafePointer(cName)
            config.History = 1
            config.Replicas = Int32(replicas)
            config.StorageType = js_FileStorage
            status = js_CreateKeyValue(&store, connection.jetStream.pointer, &config)
            // Made by another process starting at the same moment? Otherwise the failure to make it is the one said.
            if status != NATS_OK, js_KeyValue(&store, connection.jetStream.pointer, name) == NATS_OK {
                status = NATS_OK
            }
        }
        try check(status, "js_KeyValue")
        guard let store else { throw NATSError(operation: "js_KeyValue", status: NATS_ERR) }
        self.store = NATSHandle(store)
        self.connection = connection
        self.name = name
    }

    deinit {
        kvStore_Destroy(self.store.pointer)
    }

    /// The value under `key` and its revision, or nil when there is none (or it was deleted).
    func get(_ key: String) throws(NATSError) -> (value: Data, revision: UInt64)? {
        var entry: OpaquePointer?
        let status = kvStore_Get(&entry, self.store.pointer, key)
        if status == NATS_NOT_FOUND { return nil }
        try check(status, "kvStore_Get")
        defer { kvEntry_Destroy(entry) }
        return (Self.value(of: entry), kvEntry_Revision(entry))
    }

    /// Stores `value` under `key` only if the key holds nothing; its revision, or nil when the key is taken.
    func create(_ key: String, _ value: Data) throws(NATSError) -> UInt64? {
        var revision: UInt64 = 0
        let status = value.withUnsafeBytes { bytes in
            kvStore_Create(&revision, self.store.pointer, key, bytes.baseAddress, Int32(bytes.count))
        }
        if status == NATS_OK { return revision }
        // The client reports a taken key as a plain error; a key that is now there tells the two apart.
        if try self.get(key) != nil { return nil }
        throw NATSError(operation: "kvStore_Create", status: status)
    }

    /// Replaces the value under `key` only if it is still at `revision`; the new revision, or nil when someone
    /// changed it first.
    func update(_ key: String, _ value: Data, revision: UInt64) throws(NATSError) -> UInt64? {
        var newRevision: UInt64 = 0
        let status = value.withUnsafeBytes { bytes in
            kvStore_Update(&newRevision, self.store.pointer, key, bytes.baseAddress, Int32(bytes.count), revision)
        }
        if status == NATS_OK { return newRevision }
        if let current = try self.get(key), current.revision != revision { return nil }
        throw NATSError(operation: "kvStore_Update", status: status)
    }

    /// Sends the compare-and-set ``update(_:_:revision:)`` makes without waiting for the server's answer: it lands
    /// if the key is still at `revision` and is dropped otherwise, and the caller never learns which. For a write
    /// that is a hint (a later reader that misses it is still right), where a round trip would be spent for nothing.
    func updateUnconfirmed(_ key: String, _ value: Data, revision: UInt64) throws(NATSError) {
        var message: OpaquePointer?
        let status = value.withUnsafeBytes { bytes in
            natsMsg_Create(&message, "$KV.\(self.name).\(key)", nil, bytes.baseAddress, Int32(bytes.count))
        }
        try check(status, "natsMsg_Create")
        defer { natsMsg_Destroy(message) }
        try check(natsMsgHeader_Set(message, "Nats-Expected-Last-Subject-Sequence", "\(revision)"), "natsMsgHeader_Set")
        try check(natsConnection_PublishMsg(self.connection.connection.pointer, message), "natsConnection_PublishMsg")
    }

    /// Stores `value` under `key`, replacing whatever is there.
    func put(_ key: String, _ value: Data) throws(NATSError) {
        var revision: UInt64 = 0
        let status = value.withUnsafeBytes { bytes in
            kvStore_Put(&revision, self.store.pointer, key, bytes.baseAddress, Int32(bytes.count))
        }
        try check(status, "kvStore_Put")
    }

    /// Removes `key` and its history.
    func purge(_ key: String) throws(NATSError) {
        try check(kvStore_Purge(self.store.pointer, key, nil), "kvStore_Purge")
    }

    /// Every live key matching `filter` (a subject pattern such as `job.>`) with its value; at most `limit`.
    func scan(_ filter: String, limit: Int = .max) throws(NATSError) -> [(key: String, value: Data)] {
        var options = kvWatchOptions()
        try check(kvWatchOptions_Init(&options), "kvWatchOptions_Init")
        options.IgnoreDeletes = true
        var watcher: OpaquePointer?
        try check(kvStore_Watch(&watcher, self.store.pointer, filter, &options), "kvStore_Watch")
        defer { kvWatcher_Destroy(watcher) }
        var found: [(key: String, value: Data)] = []
        while found.count < limit {
            var entry: OpaquePointer?
            try check(kvWatcher_Next(&entry, watcher, 5000), "kvWatcher_Next")
            // A nil entry marks the end of the values present when the watch began.
            guard let entry else { break }
            defer { kvEntry_Destroy(entry) }
            if kvEntry_Operation(entry) == kvOp_Put, let key = kvEntry_Key(entry) {
                found.append((String(cString: key), Self.value(of: entry)))
            }
        }
        return found
    }

    private static func value(of entry: OpaquePointer?) -> Data {
        let length = Int(kvEntry_ValueLen(entry))
        guard length > 0, let bytes = kvEntry_Value(entry) else { return Data() }
        return Data(bytes: bytes, count: length)
    }
}
