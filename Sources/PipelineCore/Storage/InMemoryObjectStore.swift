import Foundation

/// An ``ObjectStore`` kept in memory, for tests; ``get(_:)`` still returns a real file, which the caller deletes.
package actor InMemoryObjectStore: ObjectStore {
    private var objects: [String: (data: Data, contentType: String?)] = [:]
    private let temporaryDirectory: URL

    /// Creates an empty store whose ``get(_:)`` writes into `temporaryDirectory`.
    package init(temporaryDirectory: URL = FileManager.default.temporaryDirectory) {
        self.temporaryDirectory = temporaryDirectory
    }

    package func get(_ key: String) async throws -> URL {
        let data = try self.data(key)
        let name = key.split(separator: "/").last.map(String.init) ?? key
        let file = self.temporaryDirectory.appendingPathComponent("audio-worker-\(UUID().uuidString)-\(name)")
        do {
            try data.write(to: file)
        } catch {
            throw StorageError.io(key: key, message: "cannot write \(file.path): \(error.localizedDescription)")
        }
        return file
    }

    package func put(_ key: String, from file: URL, contentType: String?) async throws {
        try StorageKey.validate(key)
        do {
            self.objects[key] = (try Data(contentsOf: file), contentType)
        } catch {
            throw StorageError.io(key: key, message: "cannot read \(file.path): \(error.localizedDescription)")
        }
    }

    package func put(_ key: String, data: Data, contentType: String?) async throws {
        try StorageKey.validate(key)
        self.objects[key] = (data, contentType)
    }

    package nonisolated func uri(for key: String) -> String { "memory:///\(key)" }

    package func exists(_ key: String) async throws -> Bool {
        try StorageKey.validate(key)
        return self.objects[key] != nil
    }

    package func delete(_ key: String) async throws {
        try StorageKey.validate(key)
        self.objects[key] = nil
    }

    package func list(prefix: String) async throws -> [String] {
        try StorageKey.validatePrefix(prefix)
        return self.objects.keys.filter { $0.hasPrefix(prefix) }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The bytes stored at `key`, without a round trip through a file.
    package func data(_ key: String) throws(StorageError) -> Data {
        try StorageKey.validate(key)
        guard let object = self.objects[key] else {
            throw .notFound(key)
        }
        return object.data
    }

    /// The content type given when `key` was stored, if any.
    package func contentType(_ key: String) throws(StorageError) -> String? {
        try StorageKey.validate(key)
        guard let object = self.objects[key] else {
            throw .notFound(key)
        }
        return object.contentType
    }
}
