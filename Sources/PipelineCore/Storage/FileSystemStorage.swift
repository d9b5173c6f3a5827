import Foundation

/// ``ObjectStorage`` in one directory: the bucket `assets` is the folder `ROOT/assets`, a ``FileSystemStore``.
package struct FileSystemStorage: ObjectStorage {
    /// The directory that holds one folder per bucket.
    package let root: URL
    private let temporaryDirectory: URL

    /// Creates the storage; objects fetched with `get` are linked or copied into `temporaryDirectory`.
    package init(root: URL, temporaryDirectory: URL = FileManager.default.temporaryDirectory) {
        self.root = root.standardizedFileURL
        self.temporaryDirectory = temporaryDirectory
    }

    package func bucket(_ name: String) throws(StorageError) -> any ObjectStore {
        try self.store(name)
    }

    /// The bucket as its concrete store.
    package func store(_ name: String) throws(StorageError) -> FileSystemStore {
        try BucketName.validate(name)
        return FileSystemStore(
            root: self.root.appendingPathComponent(name, isDirectory: true), temporaryDirectory: self.temporaryDirectory
        )
    }
}
