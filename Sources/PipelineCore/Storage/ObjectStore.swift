import Foundation

/// Where job inputs and outputs live: keys to bytes.
///
/// Implementations: ``InMemoryObjectStore`` (tests), `FileSystemStore` (the embedded default), and, later, S3.
/// Keys are `/`-separated relative paths; every implementation validates them with ``StorageKey``.
package protocol ObjectStore: Sendable {
    /// Copies the object at `key` into a new local file and returns it; the caller deletes it.
    func get(_ key: String) async throws -> URL

    /// Stores the file's contents at `key`, atomically: readers see the old object or the whole new one.
    func put(_ key: String, from file: URL, contentType: String?) async throws

    /// Stores `data` at `key`, atomically.
    func put(_ key: String, data: Data, contentType: String?) async throws

    /// Whether an object exists at `key`.
    func exists(_ key: String) async throws -> Bool

    /// Every key under `prefix` (a key prefix, not necessarily a directory), sorted.
    func list(prefix: String) async throws -> [String]
}

/// Failures of object storage.
package enum StorageError: Error, Equatable, CustomStringConvertible {
    /// The key is not a safe relative path.
    case invalidKey(String, reason: String)
    /// No object at the key.
    case notFound(String)
    /// The store could not be read or written.
    case io(key: String, message: String)

    package var description: String {
        switch self {
        case .invalidKey(let key, let reason): "invalid storage key '\(key)': \(reason)"
        case .notFound(let key): "no object at '\(key)'"
        case .io(let key, let message): "storage error at '\(key)': \(message)"
        }
    }
}
