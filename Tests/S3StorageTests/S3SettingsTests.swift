import Foundation
import PipelineCore
import Testing

@testable import S3Storage

/// Endpoints and settings as PMOVES's environment gives them, and the encoding of keys in paths.
struct S3SettingsTests {
    @Test(arguments: [
        ("minio:9000", false, "http://minio:9000", "minio:9000"),
        ("minio:9000", true, "https://minio:9000", "minio:9000"),
        ("MinIO.Example.org", false, "http://minio.example.org", "minio.example.org"),
        ("https://s3.example.org/", false, "https://s3.example.org", "s3.example.org"),
        ("http://127.0.0.1:8333", true, "http://127.0.0.1:8333", "127.0.0.1:8333"),
        ("[::1]:9000", false, "http://[::1]:9000", "[::1]:9000"),
    ])
    func endpoints(text: String, secure: Bool, base: String, authority: String) throws {
        let endpoint = try S3Endpoint(parsing: text, secure: secure)

        #expect(endpoint.baseURL == base)
        #expect(endpoint.authority == authority)
    }

    @Test(arguments: [
        "", "ftp://minio:9000", "http://user:pass@minio:9000", "minio:9000/bucket", "minio:port", "minio:70000",
        "http://minio:9000?x=1", "[::1", "mi nio:9000",
    ])
    func endpointsThatAreNot(text: String) {
        #expect(throws: ConfigError.self) { try S3Endpoint(parsing: text, secure: false) }
    }

    @Test func credentialsInAnEndpointNeverReachTheMessage() throws {
        let error = try #require(throws: ConfigError.self) {
            try S3Endpoint(parsing: "http://worker:hunter2-secret@minio:9000", secure: false)
        }

        #expect(error.file == "MINIO_ENDPOINT")
        #expect(!error.description.contains("hunter2"))
        #expect(error.description.contains("@minio:9000"))
    }

    @Test(arguments: [
        ("a b", "a%20b"), ("a+b=c&d?e", "a%2Bb%3Dc%26d%3Fe"), ("100%", "100%25"),
        ("dir/sub/é.wav", "dir/sub/%C3%A9.wav"),
        ("-_.~AZaz09", "-_.~AZaz09"), ("ключ", "%D0%BA%D0%BB%D1%8E%D1%87"),
        ("a:b;c,d!e'f(g)h*i$j@k", "a%3Ab%3Bc%2Cd%21e%27f%28g%29h%2Ai%24j%40k"),
    ])
    func keysInPaths(key: String, encoded: String) {
        #expect(S3URIEncoding.encode(key, keepingSlashes: true) == encoded)
    }

    @Test func slashesAreEncodedInQueryValues() {
        #expect(S3URIEncoding.encode("a/b c") == "a%2Fb%20c")
    }

    @Test(arguments: [
        ("a%20b%2Bc=d&e%3Ff%25g%C3%A9/x.bin", "a b+c=d&e?f%gé/x.bin"), ("a+b", "a b"), ("plain/key", "plain/key"),
    ])
    func listingKeysDecode(encoded: String, key: String) {
        #expect(S3URIEncoding.decodeListingKey(encoded) == key)
    }

    @Test(arguments: ["a%2", "a%zz", "%FF%FE"])
    func badlyEncodedListingKeysAreRefused(encoded: String) {
        #expect(S3URIEncoding.decodeListingKey(encoded) == nil)
    }

    @Test func partSizesStayWithinS3Limits() {
        #expect(S3Bucket.partSize(for: 40 << 20, preferred: 1 << 20) == 5 << 20)
        #expect(S3Bucket.partSize(for: 40 << 20, preferred: 16 << 20) == 16 << 20)
        // 200 GiB in 16 MiB parts would be 12,800 parts: the part grows to stay within 10,000.
        let size: Int64 = 200 << 30
        let part = S3Bucket.partSize(for: size, preferred: 16 << 20)
        #expect((size + part - 1) / part <= 10_000)
        #expect(part % (1 << 20) == 0)
    }

    @Test func retryDelaysDoubleUpToTheMaximum() {
        let policy = S3RetryPolicy(attempts: 5, initialDelay: .milliseconds(100), maximumDelay: .milliseconds(350))

        #expect(
            (1...4).map(policy.delay(after:)) == [
                .milliseconds(100), .milliseconds(200), .milliseconds(350), .milliseconds(350),
            ])
    }
}
