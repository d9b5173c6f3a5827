import Foundation

/// One bucket of objects: keys to bytes.
///
/// Implementations: ``InMemoryObjectStore`` (tests), `FileSystemStore` (the embedded default, a bucket is a folder),
/// and `S3Bucket` (S3 / MinIO). Keys are `/`-separated relative paths; every implementation validates them with
/// ``StorageKey``. Writes are atomic: a reader sees the old object or the whole new one, never a part.
package protocol ObjectStore: Sendable {
    /// The object at `key` as a new local file (a copy, or another name for the same bytes) that the caller reads
    /// and then deletes; it must not be written to.
    func get(_ key: String) async throws -> URL

    /// Stores the file's contents at `key`, atomically.
    func put(_ key: String, from file: URL, contentType: String?) async throws

    /// Stores `data` at `key`, atomically.
    func put(_ key: String, data: Data, contentType: String?) async throws

    /// Whether an object exists at `key`.
    func exists(_ key: String) async throws -> Bool

    /// Removes the object at `key`; removing an object that is not there succeeds.
    func delete(_ key: String) async throws

    /// Every key under `prefix` (a key prefix, not necessarily a directory), sorted by UTF-8 bytes.
    func list(prefix: String) async throws -> [String]

    /// The address callers are shown for `key`: `http(s)://ENDPOINT/BUCKET/KEY` for S3 (ffmpeg-whisper's
    /// `audio_uri`), a `file://` URL for the file store. Never carries credentials.
    func uri(for key: String) -> String
}

/// The buckets of one storage service, each an ``ObjectStore``.
///
/// Implementations: `FileSystemStorage` (a bucket is a folder under one root), `S3Storage`, and in tests
/// ``InMemoryStorage``. Requests name a bucket and a key on every backend, so the same request works on the
/// embedded default and on MinIO.
package protocol ObjectStorage: Sendable {
    /// The bucket called `name`; throws ``StorageError/invalidBucket(_:reason:)`` for a name no backend accepts.
    ///
    /// Naming a bucket does not check that it exists: the first request to it does.
    func bucket(_ name: String) throws(StorageError) -> any ObjectStore
}

/// Failures of object storage, with what to do about them.
package enum StorageError: Error, Equatable, CustomStringConvertible {
    /// The key is not a safe relative path.
    case invalidKey(String, reason: String)
    /// The bucket name is not one S3 (or the file store) accepts.
    case invalidBucket(String, reason: String)
    /// No object at the key.
    case notFound(String)
    /// No such bucket.
    case bucketNotFound(String)
    /// The store refused the credentials or the operation (wrong key, missing permission).
    case accessDenied(key: String, message: String)
    /// The store could not be reached, or failed (5xx, timeouts, broken connections).
    case unavailable(key: String, message: String)
    /// The object is larger than the worker accepts.
    case tooLarge(key: String, limit: Int64)
    /// The store could not be read or written locally (disk full, permissions).
    case io(key: String, message: String)

    package var description: String {
        switch self {
        case .invalidKey(let key, let reason): "invalid storage key '\(key)': \(reason)"
        case .invalidBucket(let bucket, let reason): "invalid bucket name '\(bucket)': \(reason)"
        case .notFound(let key): "no object at '\(key)'"
        case .bucketNotFound(let bucket): "no bucket '\(bucket)'"
        case .accessDenied(let key, let message): "storage refused access to '\(key)': \(message)"
        case .unavailable(let key, let message): "storage unavailable for '\(key)': \(message)"
        case .tooLarge(let key, let limit): "the object '\(key)' is larger than \(limit) bytes"
        case .io(let key, let message): "storage error at '\(key)': \(message)"
        }
    }

    /// True when trying again later cannot help: the request itself names something that is not there or not
    /// allowed as a name. Access and availability problems are retried (an operator may fix credentials; a
    /// restarted server comes back), so no job is lost to them.
    package var isPermanent: Bool {
        switch self {
        case .invalidKey, .invalidBucket, .notFound, .bucketNotFound, .tooLarge: true
        case .accessDenied, .unavailable, .io: false
        }
    }
}
