import Foundation
import PipelineCore

/// An ``ObjectStore`` on one bucket of an S3 service, addressed path-style: the object `a/b.wav` of bucket `assets`
/// is `ENDPOINT/assets/a/b.wav`.
///
/// Bodies stream between files and the network, so memory stays small for objects of any size. ``get(_:)`` asks
/// for the size first and refuses an object over ``S3Settings/maxObjectBytes`` before downloading any of it. Puts
/// are atomic: above ``S3Settings/multipartThreshold`` a file goes up as a multipart upload, visible under its key
/// only once complete, and aborted when any step fails. Keys are checked with ``StorageKey`` before any request, as
/// the file store checks them. Content types are stored.
package struct S3Bucket: ObjectStore {
    /// The bucket's name.
    package let name: String
    let settings: S3Settings
    let client: any HTTPClient
    let logger: Logger
    let clock: any MonotonicClock
    let signer: SigV4Signer

    init(name: String, settings: S3Settings, client: any HTTPClient, logger: Logger, clock: any MonotonicClock) {
        self.name = name
        self.settings = settings
        self.client = client
        self.logger = logger
        self.clock = clock
        self.signer = SigV4Signer(
            accessKey: settings.accessKey, secretKey: settings.secretKey, region: settings.region, service: "s3")
    }

    package func get(_ key: String) async throws -> URL {
        try StorageKey.validate(key)
        let limit = self.settings.maxObjectBytes
        let size = try await self.head(key).size
        if let size, size > limit {
            throw StorageError.tooLarge(key: self.subject(key), limit: limit)
        }
        let directory = self.settings.scratchDirectory
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("audio-worker-\(UUID().uuidString)-\(Self.fileName(for: key))")
        do {
            let call = S3Call(
                operation: "GetObject", method: .get, key: key, destination: .file(file, maxBytes: limit),
                timeout: self.settings.timeout(forTransferOf: size ?? limit), isIdempotent: true)
            let response = try await self.send(call)
            guard response.isSuccess else {
                throw self.storageError(for: response, of: call)
            }
            return file
        } catch {
            try? FileManager.default.removeItem(at: file)
            throw error
        }
    }

    package func put(_ key: String, from file: URL, contentType: String?) async throws {
        try Self.validateForWriting(key)
        let size = try self.size(of: file, key: key)
        if size > self.settings.effectiveMultipartThreshold {
            try await self.putMultipart(key, from: .file(file), size: size, contentType: contentType)
        } else {
            try await self.putObject(
                key, body: .file(file, offset: 0, length: size), payloadHash: SigV4Signer.unsignedPayload,
                contentType: contentType)
        }
    }

    package func put(_ key: String, data: Data, contentType: String?) async throws {
        try Self.validateForWriting(key)
        if Int64(data.count) > self.settings.effectiveMultipartThreshold {
            try await self.putMultipart(key, from: .data(data), size: Int64(data.count), contentType: contentType)
        } else {
            let hash = try await runBlocking { _ in SHA256.hexHash(data) }
            try await self.putObject(key, body: .data(data), payloadHash: hash, contentType: contentType)
        }
    }

    package func exists(_ key: String) async throws -> Bool {
        try StorageKey.validate(key)
        do {
            _ = try await self.head(key)
            return true
        } catch StorageError.notFound {
            return false
        }
    }

    package func delete(_ key: String) async throws {
        try StorageKey.validate(key)
        let call = S3Call(
            operation: "DeleteObject", method: .delete, key: key, timeout: self.settings.requestTimeout,
            isIdempotent: true)
        let response = try await self.send(call)
        // S3 answers 204 whether or not the object was there; some stores say 404 for an absent one.
        guard response.isSuccess || response.status == 404 && S3ErrorReply.parse(response.body)?.code != "NoSuchBucket"
        else {
            throw self.storageError(for: response, of: call)
        }
    }

    package func uri(for key: String) -> String {
        "\(self.settings.endpoint.baseURL)/\(self.name)/\(S3URIEncoding.encode(key, keepingSlashes: true))"
    }

    /// What a HEAD request says of the object at `key`: its size and content type, each nil when not given.
    ///
    /// - Throws: ``StorageError/notFound(_:)`` or ``StorageError/bucketNotFound(_:)``, or what the store said.
    func head(_ key: String) async throws -> (size: Int64?, contentType: String?) {
        let call = S3Call(
            operation: "HeadObject", method: .head, key: key, timeout: self.settings.requestTimeout,
            isIdempotent: true)
        let response = try await self.send(call)
        guard response.isSuccess else {
            throw try await self.headFailure(response, of: call)
        }
        let size = response.header("content-length").flatMap { Int64($0) }.flatMap { $0 >= 0 ? $0 : nil }
        return (size, response.header("content-type"))
    }

    /// Stores `body` at `key` with one PUT, which S3 makes visible all at once.
    private func putObject(_ key: String, body: HTTPRequestBody, payloadHash: String, contentType: String?)
        async throws
    {
        var headers: [String: String] = [:]
        if let contentType {
            headers["Content-Type"] = contentType
        }
        let call = S3Call(
            operation: "PutObject", method: .put, key: key, headers: headers, body: body, payloadHash: payloadHash,
            timeout: self.settings.timeout(forTransferOf: body.count), isIdempotent: true)
        let response = try await self.send(call)
        guard response.isSuccess else {
            throw self.storageError(for: response, of: call)
        }
    }

    /// `bucket/key`, as errors name an object.
    func subject(_ key: String?) -> String {
        key.map { "\(self.name)/\($0)" } ?? self.name
    }

    /// The size of a local file to upload.
    private func size(of file: URL, key: String) throws(StorageError) -> Int64 {
        var status = stat()
        guard stat(file.path, &status) == 0 else {
            throw .io(key: self.subject(key), message: "cannot read \(file.path): \(String(cString: strerror(errno)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw .io(key: self.subject(key), message: "\(file.path) is not a regular file")
        }
        return Int64(status.st_size)
    }

    /// A validated key that the file store could hold too: its last segment is not reserved for temporary files.
    private static func validateForWriting(_ key: String) throws(StorageError) {
        try StorageKey.validate(key)
        if let name = key.split(separator: "/").last, name.hasPrefix(FileSystemStore.temporaryPrefix) {
            throw .invalidKey(key, reason: "names starting with '\(FileSystemStore.temporaryPrefix)' are reserved")
        }
    }

    /// The key's last segment, cut to a length any file system takes, for the name of a downloaded copy.
    private static func fileName(for key: String) -> String {
        let name = key.split(separator: "/").last.map(String.init) ?? key
        guard name.utf8.count > 100 else { return name }
        var cut = ""
        for character in name.reversed() {
            guard cut.utf8.count + String(character).utf8.count <= 100 else { break }
            cut.insert(character, at: cut.startIndex)
        }
        return cut
    }
}
