import Foundation
import PipelineCore
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
        return WorkerEnvironment(
            configuration: configuration, dataDirectory: directory, queue: queue,
            storage: FileSystemStorage(root: directory.appendingPathComponent("store")),
            pipelines: Pipelines(configuration: configuration), events: JobEvents(),
            requests: JobRequests(configuration: configuration))
    }

    /// The queue and ledger.
    var backend: JobBackend { JobBackend(queue: self.queue, ledger: self.queue) }

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
                }))
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
