import Foundation
import PipelineCore

/// How the worker reaches one S3 service (MinIO, SeaweedFS, AWS) and the limits it keeps there.
package struct S3Settings: Sendable {
    /// Where the service listens; requests are path-style, `ENDPOINT/BUCKET/KEY`.
    package var endpoint: S3Endpoint
    /// The signing region; MinIO and SeaweedFS accept `us-east-1` whatever they are set to.
    package var region: String
    /// The access key id.
    package var accessKey: String
    /// The secret key; only the signer reads it.
    package var secretKey: Secret
    /// Files larger than this many bytes go up as a multipart upload; at most 5 GiB (S3's single PUT).
    package var multipartThreshold: Int64
    /// The size of each part of a multipart upload, at least 5 MiB (S3's minimum); raised for files so large that
    /// they would need more than 10,000 parts.
    package var partSize: Int64
    /// How many parts of one upload are sent at once.
    package var uploadConcurrency: Int
    /// The largest object ``S3Bucket/get(_:)`` accepts: the worker's input limit.
    package var maxObjectBytes: Int64
    /// The time allowed for a request without a large body (HEAD, a listing page, starting or finishing an upload).
    package var requestTimeout: Duration
    /// The slowest transfer accepted, in bytes per second: a body of `n` bytes gets ``requestTimeout`` plus
    /// `n / minimumTransferRate` seconds.
    package var minimumTransferRate: Int64
    /// Keys asked for per listing page (S3 sends at most 1,000).
    package var listPageSize: Int
    /// The most keys one ``S3Bucket/list(prefix:)`` accepts before it gives up on a listing that does not end.
    package var maxListedKeys: Int
    /// Where ``S3Bucket/get(_:)`` puts downloaded objects; created when missing.
    package var scratchDirectory: URL
    /// How transient failures of idempotent requests are retried inside the store.
    package var retry: S3RetryPolicy

    /// Creates settings with the defaults for everything but the service and its credentials.
    package init(
        endpoint: S3Endpoint, accessKey: String, secretKey: Secret, region: String = "us-east-1",
        scratchDirectory: URL = FileManager.default.temporaryDirectory
    ) {
        self.endpoint = endpoint
        self.region = region
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.multipartThreshold = 64 << 20
        self.partSize = 16 << 20
        self.uploadConcurrency = 4
        self.maxObjectBytes = 4 << 30
        self.requestTimeout = .seconds(30)
        self.minimumTransferRate = 1 << 20
        self.listPageSize = 1000
        self.maxListedKeys = 1_000_000
        self.scratchDirectory = scratchDirectory
        self.retry = S3RetryPolicy()
    }

    /// The time allowed for a request that moves `bytes` of body.
    func timeout(forTransferOf bytes: Int64) -> Duration {
        let rate = max(self.minimumTransferRate, 1)
        return self.requestTimeout + .seconds(max(bytes, 0) / rate + 1)
    }

    /// The multipart threshold as used: no more than S3's largest single PUT.
    var effectiveMultipartThreshold: Int64 {
        min(max(self.multipartThreshold, 0), 5 << 30)
    }
}
