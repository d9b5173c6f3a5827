import CurlHTTP
import Foundation
import PipelineCore
import S3Storage
import SQLiteQueue

/// The composition root's deployment: the job backend, the storage, the pipelines and the event hub, chosen from
/// the configuration. The embedded default is an SQLite queue and a file store under one data directory.
struct WorkerEnvironment: Sendable {
    let configuration: Configuration
    let dataDirectory: URL
    let queue: SQLiteJobQueue
    let storage: any ObjectStorage
    let pipelines: Pipelines
    let events: JobEvents
    let requests: JobRequests
    let metrics: Metrics
    let liveAudio: LiveAudio

    /// Opens (creating) `DATA/queue.sqlite` and the store.
    static func open(_ context: CommandContext) async throws -> WorkerEnvironment {
        let configuration = try context.loadConfiguration()
        let directory = URL(
            fileURLWithPath: context.dataDirectoryOption ?? configuration.worker.worker.dataDirectory, isDirectory: true
        )
        do {
            try FileManager.default.createDirectory(
                at: directory.appendingPathComponent("store"), withIntermediateDirectories: true)
        } catch {
            throw StorageError.io(
                key: directory.path, message: "cannot create the data directory: \(error.localizedDescription)")
        }
        let worker = configuration.worker.worker
        let queue = try await SQLiteJobQueue.open(
            path: directory.appendingPathComponent("queue.sqlite").path, visibility: worker.lease,
            maxAttempts: worker.maxAttempts)
        let metrics = Metrics()
        return WorkerEnvironment(
            configuration: configuration, dataDirectory: directory, queue: queue,
            storage: try Self.storage(configuration, dataDirectory: directory),
            pipelines: Pipelines(configuration: configuration, metrics: metrics), events: JobEvents(),
            requests: JobRequests(configuration: configuration), metrics: metrics, liveAudio: LiveAudio())
    }

    /// The configured object storage: the file store under the data directory, or S3 / MinIO.
    static func storage(_ configuration: Configuration, dataDirectory: URL) throws -> any ObjectStorage {
        let settings = configuration.worker.storage
        switch settings.backend {
        case .file:
            return FileSystemStorage(root: dataDirectory.appendingPathComponent("store"))
        case .s3:
            guard let endpointText = settings.endpoint, !endpointText.isEmpty else {
                throw ConfigError(
                    file: configuration.workerFile,
                    message: "[storage] backend is s3 but no endpoint is set (MINIO_ENDPOINT or [storage] endpoint)")
            }
            func credential(_ location: CredentialLocation, _ what: String) throws -> Secret {
                switch location.resolve(environment: configuration.environment) {
                case .success(let key?): return key
                case .success(nil): return Secret("")
                case .failure(let problem):
                    throw ConfigError(file: configuration.workerFile, message: "[storage] \(what): \(problem.reason)")
                }
            }
            let endpoint = try S3Endpoint(parsing: endpointText, secure: settings.secure)
            let scratch = dataDirectory.appendingPathComponent("s3-scratch", isDirectory: true)
            var s3 = S3Settings(
                endpoint: endpoint, accessKey: try credential(settings.accessKey, "access key").reveal(),
                secretKey: try credential(settings.secretKey, "secret key"), region: settings.region,
                scratchDirectory: scratch)
            s3.multipartThreshold = settings.multipartThreshold
            s3.partSize = settings.partSize
            s3.maxObjectBytes = configuration.worker.media.limits.maxInputBytes ?? s3.maxObjectBytes
            return S3Storage(settings: s3, client: CurlHTTPClient(), logger: .silent)
        }
    }

    /// The queue and ledger, with the database's change signal for waiters in processes without a worker.
    var backend: JobBackend { JobBackend(queue: self.queue, ledger: self.queue, changes: self.queue.watchChanges()) }

    /// The way in for submissions, cancels and retries.
    var control: JobControl { JobControl(backend: self.backend, events: self.events, requests: self.requests) }

    /// The bucket jobs use when they name none.
    var defaultBucket: String { self.configuration.worker.storage.bucket }

    /// The default bucket's store.
    func defaultStore() throws -> any ObjectStore {
        try self.storage.bucket(self.defaultBucket)
    }

    /// The executor for jobs, with pipelines built from the configuration.
    var executor: JobExecutor {
        let pipelines = self.pipelines
        return JobExecutor(
            storage: self.storage, defaultBucket: self.defaultBucket, requests: self.requests,
            encoder: pipelines.encoder,
            pipelines: JobExecutor.Pipelines(
                transcription: { function, language, prompt in
                    try pipelines.transcription(function: function, language: language, prompt: prompt)
                },
                speech: { function, voice, rate, speed in
                    try pipelines.speech(function: function, voice: voice, sampleRate: rate, speed: speed)
                }), liveAudio: self.liveAudio)
    }

    /// A worker over this environment's queue.
    func worker(concurrency: Int?, drain: Bool, drainWait: Duration, logger: Logger, shutdown: ShutdownSignal)
        -> QueueWorker
    {
        let settings = self.configuration.worker.worker
        return QueueWorker(
            backend: self.backend, executor: self.executor, events: self.events,
            retryPolicy: RetryPolicy(baseDelay: settings.retryBase, maxDelay: settings.retryMax),
            settings: QueueWorker.Settings(
                concurrency: concurrency ?? settings.concurrency, heartbeat: settings.heartbeat, drain: drain,
                drainWait: drainWait),
            owner: Self.owner, logger: logger, shutdown: shutdown)
    }

    /// `host:pid`, naming this process in leases.
    static var owner: String { "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)" }
}
