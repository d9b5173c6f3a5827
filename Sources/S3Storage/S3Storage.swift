import Foundation
import PipelineCore

/// ``ObjectStorage`` on an S3 service (MinIO, SeaweedFS, AWS): each bucket an ``S3Bucket``, addressed path-style.
///
/// Requests are signed with AWS Signature Version 4 by ``SigV4Signer`` and sent through `client`; the composition
/// root passes the libcurl client. Naming a bucket sends nothing: the first request to it finds out whether it
/// exists.
package struct S3Storage: ObjectStorage {
    /// The service and its limits.
    package let settings: S3Settings
    private let client: any HTTPClient
    private let logger: Logger
    private let clock: any MonotonicClock

    /// Creates storage on the service `settings` names, sending requests through `client`.
    package init(
        settings: S3Settings, client: any HTTPClient, logger: Logger, clock: any MonotonicClock = SystemClock()
    ) {
        self.settings = settings
        self.client = client
        self.logger = logger
        self.clock = clock
    }

    package func bucket(_ name: String) throws(StorageError) -> any ObjectStore {
        try self.store(name)
    }

    /// The bucket as its concrete store.
    package func store(_ name: String) throws(StorageError) -> S3Bucket {
        try BucketName.validate(name)
        return S3Bucket(
            name: name, settings: self.settings, client: self.client, logger: self.logger.with("bucket", name),
            clock: self.clock)
    }
}
