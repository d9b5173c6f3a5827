import Foundation

/// An ``ObjectStore`` in a directory (one bucket): the object at `a/b.wav` is the file `ROOT/a/b.wav`.
///
/// Writes go to a temporary file in the destination directory and are renamed over the old object, so a reader
/// sees the old bytes or the new, never a mixture. No path resolves outside the root: each directory on the way,
/// and an existing object, is checked by its real path, so a symbolic link in the tree cannot lead out of it.
/// Content types are not kept. Calls run on a Dispatch thread, off the cooperative pool.
package struct FileSystemStore: ObjectStore {
    /// Names of in-progress writes start with this; ``list(prefix:)`` skips them and keys may not end in one.
    package static let temporaryPrefix = ".audio-worker-tmp-"

    /// The directory that holds the objects; created on the first write.
    package let root: URL
    private let temporaryDirectory: URL

    /// Creates a store rooted at `root`; ``get(_:)`` links or copies objects into `temporaryDirectory`.
    package init(root: URL, temporaryDirectory: URL = FileManager.default.temporaryDirectory) {
        self.root = root.standardizedFileURL
        self.temporaryDirectory = temporaryDirectory
    }

    package func get(_ key: String) async throws -> URL {
        try StorageKey.validate(key)
        let root = self.root
        let temporaryDirectory = self.temporaryDirectory
        return try await runBlocking { flag in
            let source = try Self.resolveExisting(key, root: root)
            guard source.isFile else {
                throw StorageError.notFound(key)
            }
            let name = key.split(separator: "/").last.map(String.init) ?? key
            let destination = temporaryDirectory.appendingPathComponent("audio-worker-\(UUID().uuidString)-\(name)")
            // A second name for the object's bytes when the scratch directory is on the same file system: no copy
            // (a 10-minute MP3 cost 20 to 40 ms before the first chunk could be decoded). The store replaces an object
            // only by renaming a new file over it (anyone else writing into the folder must do the same), so the
            // link keeps the bytes as they were; the caller reads it and deletes it, which removes only the link.
            // Only for a file of this process's user: a link to another's file in a sticky /tmp could not be
            // deleted again, and would keep its bytes on disk after the object is gone.
            var status = stat()
            if stat(source.path, &status) == 0, status.st_uid == geteuid(), link(source.path, destination.path) == 0 {
                return destination
            }
            // Another file system, another user's file, or links refused: a copy, which a crash may lose (the caller
            // takes another).
            try Self.copy(
                from: URL(fileURLWithPath: source.path), to: destination, key: key, durable: false, cancellation: flag)
            return destination
        }
    }

    package func put(_ key: String, from file: URL, contentType: String?) async throws {
        try Self.validateForWriting(key)
        let root = self.root
        try await runBlocking { flag in
            try Self.replace(key, root: root) { temporary in
                try Self.copy(from: file, to: temporary, key: key, cancellation: flag)
            }
        }
    }

    package func put(_ key: String, data: Data, contentType: String?) async throws {
        try Self.validateForWriting(key)
        let root = self.root
        try await runBlocking { _ in
            try Self.replace(key, root: root) { temporary in
                try Self.withNewFile(temporary, key: key) { handle in
                    try handle.write(contentsOf: data)
                    try handle.synchronize()
                }
            }
        }
    }

    package func uri(for key: String) -> String {
        self.root.appendingPathComponent(key).absoluteString
    }

    package func exists(_ key: String) async throws -> Bool {
        try StorageKey.validate(key)
        let root = self.root
        return try await runBlocking { _ in
            do {
                return try Self.resolveExisting(key, root: root).isFile
            } catch StorageError.notFound {
                return false
            }
        }
    }

    package func delete(_ key: String) async throws {
        try Self.validateForWriting(key)
        let root = self.root
        try await runBlocking { _ in
            let resolved: Resolved
            do {
                resolved = try Self.resolveExisting(key, root: root)
            } catch StorageError.notFound {
                return
            }
            guard resolved.isFile else { return }
            do {
                try FileManager.default.removeItem(atPath: resolved.path)
            } catch {
                guard FileManager.default.fileExists(atPath: resolved.path) else { return }
                throw StorageError.io(key: key, message: "cannot remove it: \(error.localizedDescription)")
            }
        }
    }

    package func list(prefix: String) async throws -> [String] {
        try StorageKey.validatePrefix(prefix)
        let root = self.root
        return try await runBlocking { _ in
            guard let rootPath = Self.realPath(root.path) else {
                return []
            }
            // Start in the deepest directory the prefix names, rather than walking the whole tree.
            let directoryPart = prefix.lastIndex(of: "/").map { String(prefix[..<$0]) } ?? ""
            let start = directoryPart.isEmpty ? rootPath : rootPath + "/" + directoryPart
            var isDirectory: ObjCBool = false
            guard let startPath = Self.realPath(start),
                FileManager.default.fileExists(atPath: startPath, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                return []
            }
            guard Self.isInside(startPath, root: rootPath) else {
                throw StorageError.invalidKey(prefix, reason: "leads outside the store through a symbolic link")
            }
            var keys: [String] = []
            try Self.walk(
                startPath, keyPrefix: directoryPart.isEmpty ? "" : directoryPart + "/", matching: prefix,
                rootPath: rootPath, into: &keys)
            return keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        }
    }

    /// A validated key whose last segment is not reserved for temporary files.
    private static func validateForWriting(_ key: String) throws(StorageError) {
        try StorageKey.validate(key)
        if let name = key.split(separator: "/").last, name.hasPrefix(Self.temporaryPrefix) {
            throw .invalidKey(key, reason: "names starting with '\(Self.temporaryPrefix)' are reserved")
        }
    }

    /// What a key resolves to: its real path, and whether that is a regular file.
    private struct Resolved {
        var path: String
        var isFile: Bool
    }

    /// Resolves an existing key by its real path, refusing one that leads out of the root.
    private static func resolveExisting(_ key: String, root: URL) throws -> Resolved {
        guard let rootPath = self.realPath(root.path), let path = self.realPath(root.path + "/" + key) else {
            throw StorageError.notFound(key)
        }
        guard self.isInside(path, root: rootPath) else {
            throw StorageError.invalidKey(key, reason: "leads outside the store through a symbolic link")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw StorageError.notFound(key)
        }
        return Resolved(path: path, isFile: !isDirectory.boolValue)
    }

    /// Writes a new object with `write` into a temporary file beside its destination, then renames it into place.
    private static func replace(_ key: String, root: URL, write: (URL) throws -> Void) throws {
        let (directory, rootPath) = try self.prepareDirectory(for: key, root: root)
        let name = String(key.split(separator: "/").last ?? "")
        let destination = directory + "/" + name
        if let existing = self.realPath(destination) {
            guard self.isInside(existing, root: rootPath) else {
                throw StorageError.invalidKey(key, reason: "leads outside the store through a symbolic link")
            }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: existing, isDirectory: &isDirectory), isDirectory.boolValue {
                throw StorageError.io(key: key, message: "a directory is in the way")
            }
        }
        let temporary = URL(fileURLWithPath: directory + "/" + self.temporaryPrefix + UUID().uuidString)
        do {
            try write(temporary)
            // rename(2) replaces the destination in one step; a symbolic link there is replaced, not followed.
            guard rename(temporary.path, destination) == 0 else {
                throw StorageError.io(key: key, message: "rename failed: \(String(cString: strerror(errno)))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
    }

    /// Creates the directories above `key` one at a time, checking each by its real path; returns the real paths of
    /// the last one and of the root.
    private static func prepareDirectory(for key: String, root: URL) throws -> (directory: String, root: String) {
        do {
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        } catch {
            throw StorageError.io(key: key, message: "cannot create the store directory: \(error.localizedDescription)")
        }
        guard let rootPath = self.realPath(root.path) else {
            throw StorageError.io(key: key, message: "cannot resolve the store directory \(root.path)")
        }
        var current = rootPath
        for segment in key.split(separator: "/").dropLast() {
            let next = current + "/" + segment
            // mkdir never follows a link at its last component; EEXIST means something is there already, which the
            // real-path check below judges.
            if mkdir(next, 0o755) != 0, errno != EEXIST {
                throw StorageError.io(
                    key: key, message: "cannot create directory \(next): \(String(cString: strerror(errno)))")
            }
            guard let resolved = self.realPath(next), self.isInside(resolved, root: rootPath) else {
                throw StorageError.invalidKey(key, reason: "leads outside the store through a symbolic link")
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: resolved, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw StorageError.io(key: key, message: "\(segment) is a file, not a directory")
            }
            current = resolved
        }
        return (current, rootPath)
    }

    /// Collects the keys of regular files under `directory` that start with `prefix`.
    private static func walk(
        _ directory: String, keyPrefix: String, matching prefix: String, rootPath: String, into keys: inout [String]
    ) throws {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw StorageError.io(key: keyPrefix, message: "cannot list: \(error.localizedDescription)")
        }
        for name in names where !name.hasPrefix(self.temporaryPrefix) {
            let key = keyPrefix + name
            guard key.hasPrefix(prefix) || prefix.hasPrefix(key + "/") else { continue }
            let path = directory + "/" + name
            // lstat(2), not FileManager's attributes, which look up the owner's user and group names each time.
            var status = stat()
            let type = lstat(path, &status) == 0 ? Self.fileType(status.st_mode) : nil
            switch type {
            case .typeRegular?:
                if key.hasPrefix(prefix) {
                    keys.append(key)
                }
            case .typeDirectory?:
                try self.walk(path, keyPrefix: key + "/", matching: prefix, rootPath: rootPath, into: &keys)
            case .typeSymbolicLink?:
                // Links are listed when they lead to a file inside the store; linked directories are not entered, so
                // a loop of links cannot trap the walk.
                var isDirectory: ObjCBool = false
                if key.hasPrefix(prefix), let target = self.realPath(path), self.isInside(target, root: rootPath),
                    FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory), !isDirectory.boolValue
                {
                    keys.append(key)
                }
            default:
                continue
            }
        }
    }

    /// The kind of file a `stat` mode says.
    private static func fileType(_ mode: mode_t) -> FileAttributeType {
        switch mode & S_IFMT {
        case S_IFREG: .typeRegular
        case S_IFDIR: .typeDirectory
        case S_IFLNK: .typeSymbolicLink
        default: .typeUnknown
        }
    }

    /// Copies `source` to the new file `destination` in 1 MiB pieces, so memory stays small for any size; stops with
    /// `CancellationError` between pieces once `cancellation` is set, removing the partial copy. `durable` flushes it
    /// to disk before returning (a file about to become an object; a scratch copy need not be).
    private static func copy(
        from source: URL, to destination: URL, key: String, durable: Bool = true, cancellation: CancellationFlag
    ) throws {
        let input: FileHandle
        do {
            input = try FileHandle(forReadingFrom: source)
        } catch {
            throw StorageError.io(key: key, message: "cannot read \(source.path): \(error.localizedDescription)")
        }
        defer { try? input.close() }
        try self.withNewFile(destination, key: key) { output in
            while let chunk = try input.read(upToCount: 1 << 20), !chunk.isEmpty {
                if cancellation.isCancelled {
                    throw CancellationError()
                }
                try output.write(contentsOf: chunk)
            }
            if durable {
                try output.synchronize()
            }
        }
    }

    /// Creates `file`, which must not exist yet, runs `body` with it open for writing, and closes it; if `body`
    /// throws, the file is removed.
    private static func withNewFile(_ file: URL, key: String, _ body: (FileHandle) throws -> Void) throws {
        // O_EXCL: never open something already there, such as a link planted at the temporary name.
        let descriptor = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw StorageError.io(key: key, message: "cannot create \(file.path): \(String(cString: strerror(errno)))")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try body(handle)
            try handle.close()
        } catch {
            try? handle.close()
            unlink(file.path)
            if error is StorageError || error is CancellationError {
                throw error
            }
            throw StorageError.io(key: key, message: "writing \(file.path) failed: \(error.localizedDescription)")
        }
    }

    /// The canonical absolute path of an existing file, with every symbolic link resolved; nil if it does not exist.
    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    private static func isInside(_ path: String, root: String) -> Bool {
        path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }
}
