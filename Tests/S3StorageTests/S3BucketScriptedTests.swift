import Foundation
import PipelineCore
import Synchronization
import Testing

@testable import S3Storage

/// The store against a scripted HTTP client: what it sends, and how it takes what a broken or hostile server says.
struct S3BucketScriptedTests {
    static let secret = "SECRET-never-printed"

    static func bucket(
        _ client: ScriptedHTTPClient, clock: ManualClock = ManualClock(),
        configure: (inout S3Settings) -> Void = { _ in }
    ) throws -> S3Bucket {
        var settings = S3Settings(
            endpoint: try S3Endpoint(parsing: "127.0.0.1:9000", secure: false), accessKey: "AK",
            secretKey: Secret(Self.secret), scratchDirectory: FileManager.default.temporaryDirectory)
        configure(&settings)
        return try S3Storage(settings: settings, client: client, logger: .silent, clock: clock).store("assets")
    }

    /// Recomputes the signature from the request as it goes on the wire.
    static func signatureMatches(_ request: HTTPRequest) -> Bool {
        guard let authorization = request.headers["Authorization"],
            let signedList = authorization.components(separatedBy: "SignedHeaders=").last?
                .components(separatedBy: ",").first,
            let date = request.headers["x-amz-date"], let payload = request.headers["x-amz-content-sha256"]
        else { return false }
        let signed = Set(signedList.split(separator: ";").map(String.init))
        let headers = request.headers.filter { signed.contains($0.key.lowercased()) }.map { ($0.key, $0.value) }
        let query = (URLComponents(url: request.url, resolvingAgainstBaseURL: false)?.queryItems ?? []).map {
            ($0.name, $0.value ?? "")
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        guard let when = formatter.date(from: date) else { return false }
        let signer = SigV4Signer(accessKey: "AK", secretKey: Secret(Self.secret), region: "us-east-1", service: "s3")
        let rebuilt = SigV4Request(
            method: request.method.rawValue, encodedPath: request.encodedPath, query: query, headers: headers,
            payloadHash: payload)
        return signer.authorization(rebuilt, at: when) == authorization && signed.contains("host")
            && signed.contains("x-amz-date") && signed.contains("x-amz-content-sha256")
    }

    @Test func requestsArePathStyleEncodedAndSignedAsSent() async throws {
        let client = ScriptedHTTPClient { _ in HTTPResponse(status: 200) }
        let bucket = try Self.bucket(client)

        try await bucket.put("a b+c=d&e?f%g/é.json", data: Data("{}".utf8), contentType: "application/json")

        let request = try #require(client.requests.first)
        #expect(request.method == .put)
        #expect(request.url.absoluteString == "http://127.0.0.1:9000/assets/a%20b%2Bc%3Dd%26e%3Ff%25g/%C3%A9.json")
        #expect(request.headers["Host"] == "127.0.0.1:9000")
        #expect(request.headers["x-amz-content-sha256"] == SHA256.hexHash(Array("{}".utf8)))
        #expect(Self.signatureMatches(request))
        #expect(!request.headers.values.contains { $0.contains(Self.secret) })
    }

    @Test func filesStreamWithAnUnsignedPayload() async throws {
        let client = ScriptedHTTPClient { _ in HTTPResponse(status: 200) }
        let bucket = try Self.bucket(client)
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("s3-scripted-\(UUID()).bin")
        try Data(count: 1000).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }

        try await bucket.put("in/x.bin", from: file, contentType: nil)

        let request = try #require(client.requests.first)
        #expect(request.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD")
        guard case .file(let sent, 0, 1000) = request.body else {
            Issue.record("the body is not the file: \(request.body)")
            return
        }
        #expect(sent == file)
        #expect(Self.signatureMatches(request))
    }

    @Test func listingQueriesAreCanonicalAndSigned() async throws {
        let client = ScriptedHTTPClient { request in
            request.queryItems["continuation-token"] == nil ? .listing(["a b/1"], next: "a b/1=+") : .listing(["a b/2"])
        }
        let bucket = try Self.bucket(client)

        let keys = try await bucket.list(prefix: "a b/")

        #expect(keys == ["a b/1", "a b/2"])
        #expect(client.requests.count == 2)
        #expect(
            client.requests.last.flatMap { URLComponents(url: $0.url, resolvingAgainstBaseURL: false) }?
                .percentEncodedQuery
                == "continuation-token=a%20b%2F1%3D%2B&encoding-type=url&list-type=2&max-keys=1000&prefix=a%20b%2F")
        #expect(client.requests.allSatisfy(Self.signatureMatches))
    }

    @Test func listingsAreFilteredSortedAndDeduplicated() async throws {
        let client = ScriptedHTTPClient { request in
            if request.queryItems["continuation-token"] == nil {
                return .listing(["p/b", "p/é", "p//bad", "p/../x", "p/dir/", "other/x", "p/a"], next: "t1")
            }
            return .listing(["p/a", "p/B", "p/.audio-worker-tmp-123"])
        }
        let bucket = try Self.bucket(client)

        let keys = try await bucket.list(prefix: "p/")

        #expect(keys == ["p/B", "p/a", "p/b", "p/é"])
    }

    static let brokenListings: [(String, @Sendable (Int) -> HTTPResponse)] = [
        ("a token that repeats", { _ in .listing(["p/a"], next: "same") }),
        ("truncated without a token", { _ in .listing(["p/a"], truncated: true) }),
        ("pages that never end", { page in .listing([], next: "t\(page)") }),
        ("more keys than allowed", { page in .listing((0..<4).map { "p/\(page)-\($0)" }, next: "t\(page)") }),
        ("HTML", { _ in HTTPResponse(status: 200, body: Data("<html>proxy error</html>".utf8)) }),
        (
            "an entity bomb",
            { _ in HTTPResponse(status: 200, body: Data("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><x/>".utf8)) }
        ),
    ]

    @Test(arguments: brokenListings)
    func brokenOrHostileListingsEndInACleanError(name: String, page: @escaping @Sendable (Int) -> HTTPResponse)
        async throws
    {
        let pages = Mutex(0)
        let client = ScriptedHTTPClient { _ in
            page(
                pages.withLock { count in
                    count += 1
                    return count
                })
        }
        let bucket = try Self.bucket(client) { $0.maxListedKeys = 10 }

        let error = await #expect(throws: StorageError.self, "\(name)") { try await bucket.list(prefix: "p/") }

        guard case .unavailable(let key, _)? = error else {
            Issue.record("\(name): \(String(describing: error))")
            return
        }
        #expect(key == "assets/p/")
        #expect(client.requests.count <= 100, "\(name)")
    }

    @Test func anOversizedListingPageIsRefused() async throws {
        let client = ScriptedHTTPClient { _ in throw HTTPClientError.responseTooLarge(8 << 20) }
        let bucket = try Self.bucket(client)

        await #expect(throws: StorageError.self) { try await bucket.list(prefix: "") }

        #expect(client.requests.count == 1)
    }

    @Test func transientFailuresAreRetriedWithBackoff() async throws {
        let clock = ManualClock()
        let client = ScriptedHTTPClient { request in
            switch request.method {
            case .head where clock.sleeps.count < 2: .s3Error(503, "SlowDown")
            case .head: HTTPResponse(status: 200, headers: ["Content-Length": "5"])
            default: HTTPResponse(status: 200, body: Data("hello".utf8))
            }
        }
        let bucket = try Self.bucket(client, clock: clock)

        let file = try await bucket.get("x.txt")
        defer { try? FileManager.default.removeItem(at: file) }

        #expect(try Data(contentsOf: file) == Data("hello".utf8))
        #expect(clock.sleeps.count == 2)
        #expect(clock.sleeps[0] <= .milliseconds(250) && clock.sleeps[1] <= .milliseconds(500))
        #expect(clock.sleeps[1] >= .milliseconds(250))
    }

    @Test func failuresThatPersistBecomeUnavailable() async throws {
        let clock = ManualClock()
        let client = ScriptedHTTPClient { _ in throw HTTPClientError.connection("connection refused") }
        let bucket = try Self.bucket(client, clock: clock)

        let error = await #expect(throws: StorageError.self) { try await bucket.exists("x") }

        guard case .unavailable(let key, let message)? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(key == "assets/x")
        #expect(message.contains("connection refused"))
        #expect(client.requests.count == 3)
        #expect(error?.isPermanent == false)
    }

    @Test func startingAnUploadIsNotRetried() async throws {
        let client = ScriptedHTTPClient { _ in .s3Error(503, "ServiceUnavailable") }
        let bucket = try Self.bucket(client) {
            $0.multipartThreshold = 1
            $0.partSize = 5 << 20
        }

        await #expect(throws: StorageError.self) {
            try await bucket.put("big.bin", data: Data(count: 10), contentType: nil)
        }

        #expect(client.requests.map(\.method) == [.post])
    }

    static let errorReplies: [(HTTPResponse, StorageError)] = [
        (.s3Error(404, "NoSuchKey"), .notFound("assets/k")),
        (.s3Error(404, "NoSuchBucket"), .bucketNotFound("assets")),
        (
            .s3Error(403, "SignatureDoesNotMatch", "bad sig"),
            .accessDenied(key: "assets/k", message: "SignatureDoesNotMatch: bad sig")
        ),
        (
            .s3Error(403, "InvalidAccessKeyId", "who"),
            .accessDenied(key: "assets/k", message: "InvalidAccessKeyId: who")
        ),
        (
            .s3Error(400, "AuthorizationHeaderMalformed", "region"),
            .accessDenied(key: "assets/k", message: "AuthorizationHeaderMalformed: region")
        ),
        (HTTPResponse(status: 403), .accessDenied(key: "assets/k", message: "HTTP 403")),
        (
            .s3Error(500, "InternalError", "oops"),
            .unavailable(key: "assets/k", message: "PutObject answered HTTP 500 InternalError: oops")
        ),
    ]

    @Test(arguments: errorReplies)
    func errorRepliesMapToStorageErrors(reply: HTTPResponse, expected: StorageError) async throws {
        let client = ScriptedHTTPClient { _ in reply }
        let bucket = try Self.bucket(client) { $0.retry.attempts = 1 }

        let error = await #expect(throws: StorageError.self) {
            try await bucket.put("k", data: Data("x".utf8), contentType: nil)
        }

        #expect(error == expected)
    }

    @Test func headFailuresAreExplained() async throws {
        let missingBucket = ScriptedHTTPClient { _ in HTTPResponse(status: 404) }
        let missingKey = ScriptedHTTPClient { request in
            request.encodedPath == "/assets" ? HTTPResponse(status: 200) : HTTPResponse(status: 404)
        }
        let refused = ScriptedHTTPClient { request in
            request.method == .head ? HTTPResponse(status: 403) : .s3Error(403, "SignatureDoesNotMatch", "no")
        }

        let bucketError = await #expect(throws: StorageError.self) { try await Self.bucket(missingBucket).get("k") }
        let exists = try await Self.bucket(missingKey).exists("k")
        let refusal = await #expect(throws: StorageError.self) { try await Self.bucket(refused).exists("k") }

        #expect(bucketError == .bucketNotFound("assets"))
        #expect(!exists)
        #expect(refusal == .accessDenied(key: "assets/k", message: "SignatureDoesNotMatch: no"))
        #expect(refused.requests.last?.headers["Range"] == "bytes=0-0")
    }

    @Test func anObjectOverTheCapIsRefusedBeforeItsBodyIsAskedFor() async throws {
        let client = ScriptedHTTPClient { _ in HTTPResponse(status: 200, headers: ["Content-Length": "\(10 << 20)"]) }
        let bucket = try Self.bucket(client) { $0.maxObjectBytes = 1 << 20 }

        let error = await #expect(throws: StorageError.self) { try await bucket.get("big.wav") }

        #expect(error == .tooLarge(key: "assets/big.wav", limit: 1 << 20))
        #expect(client.requests.map(\.method) == [.head])
    }

    @Test(arguments: ["", "/abs", "a//b", "../x", "a/./b", "a\\b", "bad\u{1}", String(repeating: "k", count: 1025)])
    func invalidKeysAreRefusedBeforeAnyRequest(key: String) async throws {
        let client = ScriptedHTTPClient { _ in HTTPResponse(status: 200) }
        let bucket = try Self.bucket(client)

        await #expect(throws: StorageError.self) { try await bucket.get(key) }
        await #expect(throws: StorageError.self) { try await bucket.exists(key) }
        await #expect(throws: StorageError.self) { try await bucket.put(key, data: Data(), contentType: nil) }
        await #expect(throws: StorageError.self) {
            try await bucket.put(key, from: URL(fileURLWithPath: "/dev/null"), contentType: nil)
        }

        #expect(client.requests.isEmpty)
    }

    @Test func reservedNamesAndBadPrefixesAreRefusedBeforeAnyRequest() async throws {
        let client = ScriptedHTTPClient { _ in HTTPResponse(status: 200) }
        let bucket = try Self.bucket(client)

        await #expect(throws: StorageError.self) {
            try await bucket.put("a/.audio-worker-tmp-1", data: Data(), contentType: nil)
        }
        await #expect(throws: StorageError.self) { try await bucket.list(prefix: "../") }

        #expect(client.requests.isEmpty)
    }

    @Test(arguments: [
        "", "ab", "Assets", "a_b", "-ab", "ab-", "a..b", "192.168.0.1", String(repeating: "a", count: 64),
    ])
    func invalidBucketNamesAreRefused(name: String) throws {
        let settings = S3Settings(
            endpoint: try S3Endpoint(parsing: "127.0.0.1:9000", secure: false), accessKey: "AK",
            secretKey: Secret(Self.secret))
        let storage = S3Storage(
            settings: settings, client: ScriptedHTTPClient { _ in HTTPResponse(status: 200) }, logger: .silent)

        #expect(throws: StorageError.self) { try storage.bucket(name) }
    }

    @Test func aFailedPartAbortsTheUpload() async throws {
        let client = ScriptedHTTPClient { request in
            switch (request.method, request.queryItems["partNumber"]) {
            case (.post, _):
                HTTPResponse(
                    status: 200,
                    body: Data(
                        "<InitiateMultipartUploadResult><UploadId>u-1</UploadId></InitiateMultipartUploadResult>".utf8))
            case (.put, "2"?): .s3Error(400, "InvalidArgument", "bad part")
            case (.put, _): HTTPResponse(status: 200, headers: ["ETag": "\"e\""])
            default: HTTPResponse(status: 204)
            }
        }
        let bucket = try Self.bucket(client) {
            $0.multipartThreshold = 5 << 20
            $0.partSize = 5 << 20
            $0.uploadConcurrency = 1
        }

        await #expect(throws: StorageError.self) {
            try await bucket.put("big.bin", data: Data(count: 12 << 20), contentType: "audio/wav")
        }

        let methods = client.requests.map(\.method)
        #expect(methods.first == .post)
        #expect(methods.last == .delete)
        #expect(client.requests.last?.queryItems["uploadId"] == "u-1")
        #expect(client.requests.first?.headers["Content-Type"] == "audio/wav")
        #expect(!client.requests.contains { $0.queryItems["partNumber"] == "3" })
    }

    @Test func aCompletionThatFailsInsideA200IsAFailure() async throws {
        let client = ScriptedHTTPClient { request in
            switch request.method {
            case .post where request.queryItems["uploads"] != nil:
                HTTPResponse(
                    status: 200,
                    body: Data(
                        "<InitiateMultipartUploadResult><UploadId>u-2</UploadId></InitiateMultipartUploadResult>".utf8))
            case .post: .s3Error(200, "InternalError", "We encountered an internal error.")
            case .put: HTTPResponse(status: 200, headers: ["ETag": "\"e\""])
            default: HTTPResponse(status: 204)
            }
        }
        let bucket = try Self.bucket(client) {
            $0.multipartThreshold = 5 << 20
            $0.partSize = 5 << 20
        }

        let error = await #expect(throws: StorageError.self) {
            try await bucket.put("big.bin", data: Data(count: 6 << 20), contentType: nil)
        }

        guard case .unavailable? = error else {
            Issue.record("\(String(describing: error))")
            return
        }
        #expect(client.requests.last?.method == .delete)
        let complete = try #require(client.requests.first { $0.method == .post && $0.queryItems["uploadId"] != nil })
        guard case .data(let body) = complete.body else {
            Issue.record("no completion body")
            return
        }
        let document = String(decoding: body, as: UTF8.self)
        #expect(document.contains("<Part><ETag>&quot;e&quot;</ETag><PartNumber>1</PartNumber></Part>"))
        #expect(document.contains("<PartNumber>2</PartNumber>"))
    }

    @Test func uriIsTheEndpointBucketAndKeyWithoutCredentials() throws {
        let bucket = try Self.bucket(ScriptedHTTPClient { _ in HTTPResponse(status: 200) })

        #expect(bucket.uri(for: "yt/abc123/audio.m4a") == "http://127.0.0.1:9000/assets/yt/abc123/audio.m4a")
        #expect(bucket.uri(for: "a b/é") == "http://127.0.0.1:9000/assets/a%20b/%C3%A9")
    }
}
