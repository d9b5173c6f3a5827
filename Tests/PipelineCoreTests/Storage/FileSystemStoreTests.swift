import Foundation
import PipelineCore
import Testing

struct FileSystemStoreTests {
    /// A store in a scratch directory, with its own directory for the files `get` returns.
    struct Fixture {
        let scratch: ScratchDirectory
        let store: FileSystemStore
        var root: URL { self.scratch.path("root") }
        var downloads: URL { self.scratch.path("downloads") }

        init() throws {
            self.scratch = try ScratchDirectory()
            try FileManager.default.createDirectory(
                at: self.scratch.path("downloads"), withIntermediateDirectories: true)
            self.store = FileSystemStore(
                root: self.scratch.path("root"), temporaryDirectory: self.scratch.path("downloads"))
        }

        /// The bytes of the object at `key`, read through `get`; the copy is deleted.
        func read(_ key: String) async throws -> Data {
            let file = try await self.store.get(key)
            defer { try? FileManager.default.removeItem(at: file) }
            return try Data(contentsOf: file)
        }
    }

    func outside(_ key: String) -> StorageError {
        .invalidKey(key, reason: "leads outside the store through a symbolic link")
    }

    @Test
    func deleteRemovesTheObjectOnlyAndAnAbsentOneIsFine() async throws {
        let fixture = try Fixture()
        try await fixture.store.put("a/b/one.wav", data: Data("1".utf8), contentType: nil)
        try await fixture.store.put("a/two.wav", data: Data("2".utf8), contentType: nil)

        try await fixture.store.delete("a/b/one.wav")
        try await fixture.store.delete("a/b/one.wav")
        try await fixture.store.delete("never/there.wav")

        #expect(try await fixture.store.list(prefix: "") == ["a/two.wav"])
        await #expect(throws: StorageError.self) { try await fixture.store.delete("../outside.wav") }
        // A directory is not an object: deleting its name leaves what is inside.
        try await fixture.store.delete("a")
        #expect(try await fixture.store.exists("a/two.wav"))
    }

    @Test
    func bytesAndFilesRoundTripThroughNestedKeys() async throws {
        let fixture = try Fixture()
        defer { fixture.scratch.remove() }
        try await fixture.store.put("a/b/c.json", data: Data("{\"ok\":true}".utf8), contentType: "application/json")
        #expect(try await fixture.read("a/b/c.json") == Data("{\"ok\":true}".utf8))
        #expect(try await fixture.store.exists("a/b/c.json"))
        #expect(try await !fixture.store.exists("a/b"))

        // Bigger than the 1 MiB copy buffer, so the streamed copy takes several rounds.
        let large = Data((0..<(3 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let source = fixture.scratch.path("source.bin")
        try large.write(to: source)
        try await fixture.store.put("media/large.bin", from: source, contentType: nil)
        let copy = try await fixture.store.get("media/large.bin")
        #expect(copy.deletingLastPathComponent().standardizedFileURL == fixture.downloads.standardizedFileURL)
        #expect(copy.lastPathComponent.hasSuffix("-large.bin"))
        #expect(try Data(contentsOf: copy) == large)
        // The copy belongs to the caller: deleting it leaves the object alone.
        try FileManager.default.removeItem(at: copy)
        #expect(try await fixture.read("media/large.bin") == large)
    }

    /// Links (inode, link count) of the file at `url`.
    static func links(_ url: URL) -> (inode: UInt64, count: UInt64)? {
        var status = stat()
        guard stat(url.path, &status) == 0 else { return nil }
        return (UInt64(status.st_ino), UInt64(status.st_nlink))
    }

    @Test
    func aFileGotKeepsTheBytesItHadWhenTheObjectIsReplaced() async throws {
        let fixture = try Fixture()
        defer { fixture.scratch.remove() }
        try await fixture.store.put("media/a.mp3", data: Data("first".utf8), contentType: nil)
        let got = try await fixture.store.get("media/a.mp3")
        defer { try? FileManager.default.removeItem(at: got) }
        // On one file system the file got is the object under a second name, not a copy.
        let object = try #require(Self.links(fixture.root.appendingPathComponent("media/a.mp3")))
        #expect(Self.links(got)?.inode == object.inode && object.count == 2)
        try await fixture.store.put("media/a.mp3", data: Data("second, longer".utf8), contentType: nil)
        #expect(try Data(contentsOf: got) == Data("first".utf8))
        #expect(try await fixture.read("media/a.mp3") == Data("second, longer".utf8))
    }

    /// Whether /dev/shm is a file system of its own (a tmpfs, where Linux has one) apart from the scratch files'.
    static var sharedMemoryIsAnotherFileSystem: Bool {
        var shm = stat()
        var scratch = stat()
        return stat("/dev/shm", &shm) == 0 && stat(FileManager.default.temporaryDirectory.path, &scratch) == 0
            && shm.st_dev != scratch.st_dev
    }

    @Test(.enabled(if: Self.sharedMemoryIsAnotherFileSystem, "needs /dev/shm on a file system of its own"))
    func aScratchDirectoryOnAnotherFileSystemGetsACopy() async throws {
        // A hard link from the store's disk to another file system fails, so `get` copies.
        let shm = URL(fileURLWithPath: "/dev/shm")
        let scratch = try ScratchDirectory()
        defer { scratch.remove() }
        let downloads = shm.appendingPathComponent("audio-worker-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: downloads, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: downloads) }
        let store = FileSystemStore(root: scratch.path("root"), temporaryDirectory: downloads)
        try await store.put("a.bin", data: Data("bytes".utf8), contentType: nil)
        let got = try await store.get("a.bin")
        #expect(got.deletingLastPathComponent().path == downloads.path)
        #expect(try Data(contentsOf: got) == Data("bytes".utf8))
        try FileManager.default.removeItem(at: got)
        #expect(try await store.exists("a.bin"))
    }

    @Test
    func putReplacesTheObjectAndLeavesNoTemporaryFiles() async throws {
        let fixture = try Fixture()
        defer { fixture.scratch.remove() }
        try await fixture.store.put("a/x.txt", data: Data("one".utf8), contentType: nil)
        try await fixture.store.put("a/x.txt", data: Data("two, longer".utf8), contentType: nil)
        let source = fixture.scratch.path("three.txt")
        try Data("three".utf8).write(to: source)
        try await fixture.store.put("a/x.txt", from: source, contentType: nil)
        try await fixture.store.put("empty", data: Data(), contentType: nil)
        #expect(try await fixture.read("a/x.txt") == Data("three".utf8))
        #expect(try await fixture.read("empty") == Data())
        #expect(try ScratchDirectory(existing: fixture.root).contents() == ["a", "a/x.txt", "empty"])
    }

    @Test
    func aFailedPutLeavesTheOldObjectAndNoTemporaryFile() async throws {
        let fixture = try Fixture()
        defer { fixture.scratch.remove() }
        try await fixture.store.put("a/x.txt", data: Data("old".utf8), contentType: nil)
        await #expect(throws: StorageError.self) {
            try await fixture.store.put("a/x.txt", from: fixture.scratch.path("missing.txt"), contentType: nil)
        }
        #expect(try await fixture.read("a/x.txt") == Data("old".utf8))
        #expect(try ScratchDirectory(existing: fixture.root).contents() == ["a", "a/x.txt"])
    }

    @Test
    func missingObjectsAreNotFound() async throws {
        let fixture = try Fixture()
        defer { fixture.scratch.remove() }
        await #expect(throws: StorageError.notFound("nothing/here.wav")) {
            try await fixture.store.get("nothing/here.wav")
        }
        #expect(try await !fixture.store.exists("nothing/here.wav"))
        #expect(try await fixture.store.list(prefix: "").isEmpty)
        try await fixture.store.put("dir/file", data: Data([1]), contentType: nil)
        await #expect(throws: StorageError.notFound("dir")) {
            try await fixture.store.get("dir")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: fixture.downloads.path).isEmpty)
    }

    @Test
    func invalidAndReservedKeysAreRefused() async throws {
        let fixture = try Fixture()
        defer { fixture.scratch.remove() }
        await #expect(throws: StorageError.invalidKey("../escape", reason: "'.' and '..' segments are not allowed")) {
            try await fixture.store.put("../escape", data: Data([1]), contentType: nil)
        }
        await #expect(throws: StorageError.invalidKey("/etc/passwd", reason: "absolute paths are not keys")) {
            try await fixture.store.get("/etc/passwd")
        }
        let reserved = "a/\(FileSystemStore.temporaryPrefix)x"
        await #expect(throws: StorageError.self) {
            try await fixture.store.put(reserved, data: Data([1]), contentType: nil)
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.scratch.path("escape").path))
    }

    @Test
    func listingReturnsSortedKeysUnderAPrefix() async throws {
        let fixture = try Fixture()
        defer { fixture.scratch.remove() }
        let keys = ["b", "a/b/d.txt", "a/bc.txt", "a/b/c.txt", "a/c/x", "ab", "a/b/e/f"]
        for key in keys {
            try await fixture.store.put(key, data: Data(key.utf8), contentType: nil)
        }
        // An interrupted write's temporary file is never listed.
        try Data([0]).write(to: fixture.root.appendingPathComponent("a/b/\(FileSystemStore.temporaryPrefix)123"))

        #expect(try await fixture.store.list(prefix: "") == keys.sorted())
        #expect(
            try await fixture.store.list(prefix: "a/") == ["a/b/c.txt", "a/b/d.txt", "a/b/e/f", "a/bc.txt", "a/c/x"])
        #expect(try await fixture.store.list(prefix: "a/b") == ["a/b/c.txt", "a/b/d.txt", "a/b/e/f", "a/bc.txt"])
        #expect(try await fixture.store.list(prefix: "a/b/") == ["a/b/c.txt", "a/b/d.txt", "a/b/e/f"])
        #expect(try await fixture.store.list(prefix: "a/b/c") == ["a/b/c.txt"])
        #expect(
            try await fixture.store.list(prefix: "a") == [
                "a/b/c.txt", "a/b/d.txt", "a/b/e/f", "a/bc.txt", "a/c/x", "ab",
            ])
        #expect(try await fixture.store.list(prefix: "zzz/").isEmpty)
        #expect(try await fixture.store.list(prefix: "b/c").isEmpty)
        await #expect(throws: StorageError.self) {
            try await fixture.store.list(prefix: "../")
        }
    }

    @Test
    func aSymbolicLinkOutOfTheRootCannotBeReadOrWrittenThrough() async throws {
        let fixture = try Fixture()
        defer { fixture.scratch.remove() }
        let elsewhere = fixture.scratch.path("elsewhere")
        try FileManager.default.createDirectory(at: elsewhere, withIntermediateDirectories: true)
        try Data("secret".utf8).write(to: elsewhere.appendingPathComponent("secret.txt"))
        try await fixture.store.put("inside.txt", data: Data("inside".utf8), contentType: nil)
        try FileManager.default.createSymbolicLink(
            at: fixture.root.appendingPathComponent("escape"), withDestinationURL: elsewhere)
        try FileManager.default.createSymbolicLink(
            at: fixture.root.appendingPathComponent("secret.txt"),
            withDestinationURL: elsewhere.appendingPathComponent("secret.txt"))

        await #expect(throws: self.outside("escape/secret.txt")) { try await fixture.store.get("escape/secret.txt") }
        await #expect(throws: self.outside("secret.txt")) { try await fixture.store.get("secret.txt") }
        await #expect(throws: self.outside("escape/secret.txt")) { try await fixture.store.exists("escape/secret.txt") }
        await #expect(throws: self.outside("escape/new.txt")) {
            try await fixture.store.put("escape/new.txt", data: Data("planted".utf8), contentType: nil)
        }
        await #expect(throws: self.outside("escape/deeper/new.txt")) {
            try await fixture.store.put("escape/deeper/new.txt", data: Data("planted".utf8), contentType: nil)
        }
        await #expect(throws: self.outside("secret.txt")) {
            try await fixture.store.put("secret.txt", data: Data("overwritten".utf8), contentType: nil)
        }
        await #expect(
            throws: StorageError.invalidKey("escape/", reason: "leads outside the store through a symbolic link")
        ) {
            try await fixture.store.list(prefix: "escape/")
        }
        #expect(try await fixture.store.list(prefix: "") == ["inside.txt"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere.path) == ["secret.txt"])
        #expect(try Data(contentsOf: elsewhere.appendingPathComponent("secret.txt")) == Data("secret".utf8))
    }

    @Test
    func aSymbolicLinkThatStaysInsideTheRootWorks() async throws {
        let fixture = try Fixture()
        defer { fixture.scratch.remove() }
        try await fixture.store.put("real/a.txt", data: Data("a".utf8), contentType: nil)
        try FileManager.default.createSymbolicLink(
            at: fixture.root.appendingPathComponent("alias"),
            withDestinationURL: fixture.root.appendingPathComponent("real"))
        #expect(try await fixture.read("alias/a.txt") == Data("a".utf8))
        try await fixture.store.put("alias/b.txt", data: Data("b".utf8), contentType: nil)
        #expect(try await fixture.read("real/b.txt") == Data("b".utf8))
    }
}
