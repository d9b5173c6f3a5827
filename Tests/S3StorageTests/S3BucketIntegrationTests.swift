import CurlHTTP
import Foundation
import PipelineCore
import Testing

@testable import S3Storage

/// The store against a real S3 server (SeaweedFS) that enforces credentials, through the libcurl client.
@Suite(.s3Server, .serialized)
struct S3BucketIntegrationTests {
    let server: S3Server
    /// Keys of one test start with this, so tests never see each other's objects.
    let prefix = "t-\(UUID().uuidString.prefix(8))/"

    init() throws {
        self.server = try #require(S3Server.current, "the suite's S3 server")
    }

    func bucket(
        _ client: any HTTPClient = CurlHTTPClient(), name: String = S3Server.bucket,
        accessKey: String = S3Server.accessKey, secretKey: String = S3Server.secretKey,
        configure: (inout S3Settings) -> Void = { _ in }
    ) throws -> S3Bucket {
        var settings = S3Settings(
            endpoint: try S3Endpoint(parsing: self.server.endpoint, secure: false), accessKey: accessKey,
            secretKey: Secret(secretKey))
        configure(&settings)
        return try S3Storage(settings: settings, client: client, logger: .silent).store(name)
    }

    @Test func smallAndEmptyObjectsRoundTrip() async throws {
        let bucket = try self.bucket()
        let file = try Fixture.file(bytes: 1234)
        let empty = try Fixture.file(bytes: 0)
        defer { Fixture.remove(file, empty) }

        try await bucket.put(self.prefix + "hello.txt", data: Data("hello".utf8), contentType: "text/plain")
        try await bucket.put(self.prefix + "empty.bin", data: Data(), contentType: nil)
        try await bucket.put(self.prefix + "file.bin", from: file, contentType: "audio/wav")
        try await bucket.put(self.prefix + "empty-file.bin", from: empty, contentType: nil)
        try await bucket.put(self.prefix + "again.txt", data: Data("first".utf8), contentType: nil)
        try await bucket.put(self.prefix + "again.txt", data: Data("second".utf8), contentType: nil)

        #expect(try await Fixture.contents(bucket.get(self.prefix + "hello.txt")) == Data("hello".utf8))
        #expect(try await Fixture.contents(bucket.get(self.prefix + "empty.bin")) == Data())
        #expect(try await Fixture.contents(bucket.get(self.prefix + "file.bin")) == Data(contentsOf: file))
        #expect(try await Fixture.contents(bucket.get(self.prefix + "empty-file.bin")) == Data())
        #expect(try await Fixture.contents(bucket.get(self.prefix + "again.txt")) == Data("second".utf8))
        #expect(try await bucket.head(self.prefix + "hello.txt").contentType == "text/plain")
        #expect(try await bucket.head(self.prefix + "file.bin").contentType == "audio/wav")
    }

    @Test func aLargeFileGoesUpInPartsAndComesBackWholeInBoundedMemory() async throws {
        let size = 40_000_000
        let client = InterceptingHTTPClient()
        let bucket = try self.bucket(client) {
            $0.multipartThreshold = 8 << 20
            $0.partSize = 5 << 20
        }
        let key = self.prefix + "large.bin"
        let file = try Fixture.file(bytes: size)
        defer { Fixture.remove(file) }

        let bound = Int64(size / 4)
        let putGrowth = try await Memory.peakGrowth(below: bound) {
            try await bucket.put(key, from: file, contentType: "audio/wav")
        }
        var downloaded: URL?
        let getGrowth = try await Memory.peakGrowth(below: bound) {
            Fixture.remove(downloaded ?? file.appendingPathExtension("none"))
            downloaded = try await bucket.get(key)
        }
        let copy = try #require(downloaded)
        defer { Fixture.remove(copy) }

        let uploads = client.requests(.createUpload).count
        let parts = client.requests(.uploadPart).count / max(uploads, 1)
        print(
            "S3 40 MB multipart: \(parts) parts per upload, \(uploads) upload(s); peak RSS grew \(putGrowth >> 10) KiB during put, "
                + "\(getGrowth >> 10) KiB during get; VmHWM now \(Memory.kilobytes("VmHWM")) KiB")
        #expect(uploads >= 1)
        #expect(client.requests(.uploadPart).count == 8 * uploads)
        #expect(client.requests(.putObject).isEmpty)
        #expect(try Fixture.sameBytes(file, copy))
        #expect(try await bucket.head(key).size == Int64(size))
        #expect(try await bucket.pendingUploads(prefix: key).isEmpty)
        #expect(putGrowth < bound, "put held \(putGrowth) bytes")
        #expect(getGrowth < bound, "get held \(getGrowth) bytes")
    }

    @Test func dataAboveTheThresholdGoesUpInPartsToo() async throws {
        let client = InterceptingHTTPClient()
        let bucket = try self.bucket(client) {
            $0.multipartThreshold = 5 << 20
            $0.partSize = 5 << 20
        }
        let file = try Fixture.file(bytes: 11 << 20)
        defer { Fixture.remove(file) }
        let data = try Data(contentsOf: file)

        try await bucket.put(self.prefix + "data.bin", data: data, contentType: nil)

        #expect(client.requests(.uploadPart).count == 3)
        #expect(try await Fixture.contents(bucket.get(self.prefix + "data.bin")) == data)
    }

    static let awkwardKeys = [
        "with space.txt", "ünïcödé/日本語 ファイル.wav", "plus+sign", "eq=amp&q?pct%25%", "a%20b", "~tilde_-.dot",
        "deep/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p.json", "quote'\"!$()*,;:@[]{}|^`", "emoji 🎙️.m4a",
    ]

    @Test(arguments: awkwardKeys)
    func keysWithSpacesUnicodeAndReservedCharactersRoundTrip(name: String) async throws {
        let bucket = try self.bucket()
        let key = self.prefix + name

        try await bucket.put(key, data: Data(name.utf8), contentType: nil)

        #expect(try await bucket.exists(key))
        #expect(try await Fixture.contents(bucket.get(key)) == Data(name.utf8))
        #expect(try await bucket.list(prefix: self.prefix) == [key])
        #expect(bucket.uri(for: key).hasPrefix("http://\(self.server.endpoint)/\(S3Server.bucket)/t-"))
    }

    @Test func existsTellsPresentFromAbsent() async throws {
        let bucket = try self.bucket()
        try await bucket.put(self.prefix + "here", data: Data("x".utf8), contentType: nil)

        #expect(try await bucket.exists(self.prefix + "here"))
        #expect(try await !bucket.exists(self.prefix + "not-here"))
        #expect(try await !bucket.exists(self.prefix + "her"))
    }

    @Test func deleteRemovesTheObjectAndAnAbsentOneIsFine() async throws {
        let bucket = try self.bucket()
        try await bucket.put(self.prefix + "gone", data: Data("x".utf8), contentType: nil)
        try await bucket.put(self.prefix + "kept", data: Data("y".utf8), contentType: nil)

        try await bucket.delete(self.prefix + "gone")
        try await bucket.delete(self.prefix + "gone")

        #expect(try await bucket.list(prefix: self.prefix) == [self.prefix + "kept"])
        let missing = try self.bucket(name: "no-such-bucket-\(UUID().uuidString.prefix(6).lowercased())")
        await #expect(throws: StorageError.self) { try await missing.delete("anything") }
    }

    @Test func listingsFollowContinuationTokensAndSortByBytes() async throws {
        let client = InterceptingHTTPClient()
        let bucket = try self.bucket(client) { $0.listPageSize = 2 }
        let names = ["b", "a", "B", "é", "a b", "a+b", "z/deep/x", "a=&?%", "_", "ä"]
        for name in names {
            try await bucket.put(self.prefix + "list/" + name, data: Data(), contentType: nil)
        }
        try await bucket.put(self.prefix + "listed-elsewhere", data: Data(), contentType: nil)

        let keys = try await bucket.list(prefix: self.prefix + "list/")
        let partial = try await bucket.list(prefix: self.prefix + "list/a")

        let expected = names.map { self.prefix + "list/" + $0 }.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(keys == expected)
        #expect(partial == expected.filter { $0.hasPrefix(self.prefix + "list/a") })
        #expect(client.requests(.listObjects).count >= 5 + 2)
        #expect(try await bucket.list(prefix: self.prefix + "nothing/").isEmpty)
    }

    @Test func aWrongSecretIsAccessDenied() async throws {
        let bucket = try self.bucket(secretKey: "not-the-secret-9c2d")
        try await self.bucket().put(self.prefix + "k", data: Data("x".utf8), contentType: nil)

        for (name, operation) in Self.operations(on: bucket, key: self.prefix + "k") {
            let error = await #expect(throws: StorageError.self, "\(name)") { try await operation() }
            guard case .accessDenied(_, let message)? = error else {
                Issue.record("\(name): \(String(describing: error))")
                continue
            }
            #expect(message.contains("SignatureDoesNotMatch"), "\(name): \(message)")
            #expect(!"\(error!)".contains("not-the-secret-9c2d") && !"\(error!)".contains(S3Server.secretKey))
        }
    }

    @Test func anUnknownAccessKeyIsAccessDenied() async throws {
        let bucket = try self.bucket(accessKey: "nobody-we-know")

        for (name, operation) in Self.operations(on: bucket, key: self.prefix + "k") {
            let error = await #expect(throws: StorageError.self, "\(name)") { try await operation() }
            guard case .accessDenied(_, let message)? = error else {
                Issue.record("\(name): \(String(describing: error))")
                continue
            }
            #expect(message.contains("InvalidAccessKeyId"), "\(name): \(message)")
        }
    }

    @Test func aMissingObjectIsNotFound() async throws {
        let bucket = try self.bucket()
        let key = self.prefix + "missing.wav"

        let error = await #expect(throws: StorageError.self) { try await bucket.get(key) }

        #expect(error == .notFound("\(S3Server.bucket)/\(key)"))
        #expect(error?.isPermanent == true)
        #expect(try await !bucket.exists(key))
    }

    @Test func aMissingBucketIsBucketNotFound() async throws {
        let bucket = try self.bucket(name: "no-such-bucket-\(UUID().uuidString.prefix(6).lowercased())")

        for (name, operation) in Self.operations(on: bucket, key: "k") {
            let error = await #expect(throws: StorageError.self, "\(name)") { try await operation() }
            #expect(error == .bucketNotFound(bucket.name), "\(name)")
        }
    }

    @Test func anObjectOverTheCapIsRefusedWithoutDownloadingIt() async throws {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("s3-scratch-\(UUID())")
        defer { Fixture.remove(scratch) }
        let client = InterceptingHTTPClient()
        let bucket = try self.bucket(client) {
            $0.maxObjectBytes = 1 << 20
            $0.scratchDirectory = scratch
        }
        try await bucket.put(self.prefix + "big.wav", data: Data(count: 3 << 20), contentType: nil)

        let error = await #expect(throws: StorageError.self) { try await bucket.get(self.prefix + "big.wav") }

        #expect(error == .tooLarge(key: "\(S3Server.bucket)/\(self.prefix)big.wav", limit: 1 << 20))
        #expect(client.requests(.getObject).isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: scratch.path)) ?? []).isEmpty)
    }

    @Test func aFailedMultipartUploadLeavesNoObjectAndNoPendingUpload() async throws {
        let key = self.prefix + "aborted.bin"
        let observer = try self.bucket()
        let pendingDuringFailure = LockedValue<Int?>(nil)
        let client = InterceptingHTTPClient { request in
            guard request.queryItems["partNumber"] == "2" else { return nil }
            if pendingDuringFailure.value == nil {
                let pending = try await observer.pendingUploads(prefix: key).count
                pendingDuringFailure.withLock { $0 = pending }
            }
            throw HTTPClientError.connection("injected failure")
        }
        let bucket = try self.bucket(client) {
            $0.multipartThreshold = 5 << 20
            $0.partSize = 5 << 20
            $0.uploadConcurrency = 1
            $0.retry.initialDelay = .milliseconds(10)
        }
        let file = try Fixture.file(bytes: 12 << 20)
        defer { Fixture.remove(file) }

        let error = await #expect(throws: StorageError.self) { try await bucket.put(key, from: file, contentType: nil) }

        guard case .unavailable(_, let message)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(message.contains("injected failure"))
        #expect(pendingDuringFailure.value == 1)
        #expect(client.requests.filter { $0.queryItems["partNumber"] == "2" }.count == 3)
        #expect(client.requests.last?.method == .delete)
        #expect(try await observer.pendingUploads(prefix: key).isEmpty)
        #expect(try await !observer.exists(key))
    }

    /// Each kind of call a bucket serves, by name.
    static func operations(on bucket: S3Bucket, key: String) -> [(String, @Sendable () async throws -> Void)] {
        [
            ("get", { Fixture.remove(try await bucket.get(key)) }),
            ("put", { try await bucket.put(key, data: Data("y".utf8), contentType: nil) }),
            ("exists", { _ = try await bucket.exists(key) }),
            ("list", { _ = try await bucket.list(prefix: "") }),
        ]
    }
}

/// The store across a server that stops and comes back, on a server of its own.
struct S3RestartTests {
    @Test func aStoppedServerIsUnavailableAndTheSameStoreWorksAfterARestart() async throws {
        let server = try await S3Server.start()
        var settings = S3Settings(
            endpoint: try S3Endpoint(parsing: server.endpoint, secure: false), accessKey: S3Server.accessKey,
            secretKey: Secret(S3Server.secretKey))
        settings.retry.initialDelay = .milliseconds(10)
        let bucket = try S3Storage(settings: settings, client: CurlHTTPClient(), logger: .silent).store(S3Server.bucket)
        try await bucket.put("kept.txt", data: Data("kept".utf8), contentType: nil)

        server.stop()
        var errors: [String: StorageError] = [:]
        for (name, operation) in S3BucketIntegrationTests.operations(on: bucket, key: "kept.txt") {
            errors[name] = await #expect(throws: StorageError.self, "\(name)") { try await operation() }
        }
        let restarted = try await S3Server.start(port: server.port, data: server.data)
        defer { restarted.stopAndRemove() }

        for (name, error) in errors {
            guard case .unavailable(let key, _) = error else {
                Issue.record("\(name): \(error)")
                continue
            }
            #expect(key.hasPrefix(S3Server.bucket), "\(name)")
            #expect(!error.isPermanent)
        }
        #expect(errors.count == 4)
        #expect(try await Fixture.contents(bucket.get("kept.txt")) == Data("kept".utf8))
        #expect(try await bucket.list(prefix: "") == ["kept.txt"])
    }
}
