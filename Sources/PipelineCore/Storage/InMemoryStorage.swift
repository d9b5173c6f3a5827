import Foundation
import Synchronization

/// ``ObjectStorage`` in memory, for tests: one ``InMemoryObjectStore`` per bucket name, made on first use.
package final class InMemoryStorage: ObjectStorage {
    private let buckets = Mutex<[String: InMemoryObjectStore]>([:])

    /// Creates storage with no buckets.
    package init() {}

    package func bucket(_ name: String) throws(StorageError) -> any ObjectStore {
        try self.store(name)
    }

    /// The bucket as its concrete store.
    package func store(_ name: String) throws(StorageError) -> InMemoryObjectStore {
        try BucketName.validate(name)
        return self.buckets.withLock { buckets in
            if let store = buckets[name] { return store }
            let store = InMemoryObjectStore()
            buckets[name] = store
            return store
        }
    }
}
