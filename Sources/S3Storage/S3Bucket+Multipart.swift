import Foundation
import PipelineCore

extension S3Bucket {
    /// S3's smallest part (all but the last) and its most parts per upload.
    static let minimumPartSize: Int64 = 5 << 20
    static let maximumPartCount: Int64 = 10_000

    /// Where the bytes of a multipart upload come from.
    enum UploadSource: Sendable {
        /// A file, sent in ranges straight from disk (payloads unsigned).
        case file(URL)
        /// Bytes in memory, sent in slices (each slice's hash signed).
        case data(Data)
    }

    /// An upload started but neither completed nor aborted, as ListMultipartUploads reports it.
    struct PendingUpload: Sendable, Equatable {
        var key: String
        var uploadID: String
    }

    /// Uploads `size` bytes from `source` to `key` in parts, then completes the upload; when any step fails the
    /// upload is aborted, so neither an object nor stored parts are left behind.
    ///
    /// If the task is cancelled the abort cannot be sent either (the client gives up on it at once); the parts then
    /// stay until the bucket's lifecycle rule for incomplete uploads removes them, and the key never shows them.
    func putMultipart(_ key: String, from source: UploadSource, size: Int64, contentType: String?) async throws {
        let partSize = Self.partSize(for: size, preferred: self.settings.partSize)
        let uploadID = try await self.createUpload(key, contentType: contentType)
        let logger = self.logger.with("key", key).with("upload", uploadID)
        do {
            let count = Int((size + partSize - 1) / partSize)
            let concurrency = min(max(self.settings.uploadConcurrency, 1), count)
            let etags = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var etags = [String](repeating: "", count: count)
                var next = 1
                func start(_ number: Int) {
                    let offset = Int64(number - 1) * partSize
                    let length = min(partSize, size - offset)
                    group.addTask {
                        let etag = try await self.uploadPart(
                            key, uploadID: uploadID, number: number, source: source, offset: offset, length: length)
                        return (number, etag)
                    }
                }
                while next <= concurrency {
                    start(next)
                    next += 1
                }
                while let (number, etag) = try await group.next() {
                    etags[number - 1] = etag
                    if next <= count {
                        start(next)
                        next += 1
                    }
                }
                return etags
            }
            try await self.completeUpload(key, uploadID: uploadID, etags: etags)
        } catch {
            await self.abortUpload(key, uploadID: uploadID, logger: logger)
            throw error
        }
    }

    /// The part size for an upload of `size` bytes: `preferred`, but at least S3's minimum and large enough to stay
    /// within 10,000 parts, rounded up to a whole MiB.
    static func partSize(for size: Int64, preferred: Int64) -> Int64 {
        let needed = (size + self.maximumPartCount - 1) / self.maximumPartCount
        let mebibyte: Int64 = 1 << 20
        let chosen = max(preferred, self.minimumPartSize, needed)
        return (chosen + mebibyte - 1) / mebibyte * mebibyte
    }

    /// Starts an upload (CreateMultipartUpload) and returns its id; the content type is the finished object's.
    private func createUpload(_ key: String, contentType: String?) async throws -> String {
        let call = S3Call(
            operation: "CreateMultipartUpload", method: .post, key: key, query: [("uploads", "")],
            headers: ["Content-Type": contentType ?? "application/octet-stream"], timeout: self.settings.requestTimeout,
            isIdempotent: false)
        let root = try await self.sendForDocument(call, named: "InitiateMultipartUploadResult")
        guard let id = root.text(of: "UploadId"), !id.isEmpty, id.utf8.count <= 1024 else {
            throw self.malformed(call, "no upload id")
        }
        return id
    }

    /// Sends one part (UploadPart) and returns its ETag.
    private func uploadPart(
        _ key: String, uploadID: String, number: Int, source: UploadSource, offset: Int64, length: Int64
    ) async throws -> String {
        let body: HTTPRequestBody
        let payloadHash: String
        switch source {
        case .file(let file):
            body = .file(file, offset: offset, length: length)
            payloadHash = SigV4Signer.unsignedPayload
        case .data(let data):
            let start = data.startIndex + Int(offset)
            let slice = data[start..<start + Int(length)]
            body = .data(slice)
            payloadHash = try await runBlocking { _ in SHA256.hexHash(slice) }
        }
        let call = S3Call(
            operation: "UploadPart", method: .put, key: key,
            query: [("partNumber", "\(number)"), ("uploadId", uploadID)], body: body, payloadHash: payloadHash,
            timeout: self.settings.timeout(forTransferOf: length), isIdempotent: true)
        let response = try await self.send(call)
        guard response.isSuccess else {
            throw self.storageError(for: response, of: call)
        }
        guard let etag = response.header("etag"), !etag.isEmpty, etag.utf8.count <= 1024 else {
            throw self.malformed(call, "part \(number) came back without an ETag")
        }
        return etag
    }

    /// Finishes an upload (CompleteMultipartUpload): the object appears under its key, whole.
    private func completeUpload(_ key: String, uploadID: String, etags: [String]) async throws {
        var document = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (index, etag) in etags.enumerated() {
            document += "<Part><ETag>\(Self.escaped(etag))</ETag><PartNumber>\(index + 1)</PartNumber></Part>"
        }
        document += "</CompleteMultipartUpload>"
        let body = Data(document.utf8)
        let call = S3Call(
            operation: "CompleteMultipartUpload", method: .post, key: key, query: [("uploadId", uploadID)],
            headers: ["Content-Type": "application/xml"], body: .data(body), payloadHash: SHA256.hexHash(body),
            timeout: self.settings.requestTimeout * 4, isIdempotent: false)
        _ = try await self.sendForDocument(call, named: "CompleteMultipartUploadResult")
    }

    /// Abandons an upload (AbortMultipartUpload), freeing its parts; a failure is logged, not thrown, since the
    /// caller is already failing for another reason.
    private func abortUpload(_ key: String, uploadID: String, logger: Logger) async {
        let call = S3Call(
            operation: "AbortMultipartUpload", method: .delete, key: key, query: [("uploadId", uploadID)],
            timeout: self.settings.requestTimeout, isIdempotent: true)
        do {
            let response = try await self.send(call)
            if response.isSuccess || response.status == 404 {
                return
            }
            logger.warning(
                "multipart upload left pending", ["error": .string("\(self.storageError(for: response, of: call))")])
        } catch {
            logger.warning("multipart upload left pending", ["error": .string("\(error)")])
        }
    }

    /// The uploads under `prefix` that are neither completed nor aborted (the first page of ListMultipartUploads).
    func pendingUploads(prefix: String) async throws -> [PendingUpload] {
        let call = S3Call(
            operation: "ListMultipartUploads", method: .get, key: nil, query: [("uploads", ""), ("prefix", prefix)],
            destination: .memory(maxBytes: Self.maxListingPageBytes), timeout: self.settings.requestTimeout,
            isIdempotent: true)
        let root = try await self.sendForDocument(call, named: "ListMultipartUploadsResult")
        return root.children("Upload").compactMap { upload in
            guard let key = upload.text(of: "Key"), let id = upload.text(of: "UploadId") else { return nil }
            return PendingUpload(key: key, uploadID: id)
        }
    }

    /// Sends `call` and returns the XML document of its 2xx reply, whose root must be `name`.
    ///
    /// S3 may answer 200 and still fail (CompleteMultipartUpload does, when it fails after the status line was
    /// sent): an `Error` document is then the body, and it fails the call like a 500.
    private func sendForDocument(_ call: S3Call, named name: String) async throws -> S3XMLElement {
        let response = try await self.send(call)
        guard response.isSuccess else {
            throw self.storageError(for: response, of: call)
        }
        let root: S3XMLElement
        do {
            root = try S3XMLElement.parse(response.body)
        } catch {
            throw self.malformed(call, "\(error)")
        }
        if root.name == "Error" {
            var failed = response
            failed.status = 500
            throw self.storageError(for: failed, of: call)
        }
        guard root.name == name else {
            throw self.malformed(call, "expected \(name), got \(root.name.prefix(64))")
        }
        return root
    }

    private func malformed(_ call: S3Call, _ reason: String) -> StorageError {
        .unavailable(key: self.subject(call.key), message: "\(call.operation) got a malformed reply: \(reason)")
    }

    /// `text` safe inside an XML element.
    private static func escaped(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            default: result.append(character)
            }
        }
        return result
    }
}
