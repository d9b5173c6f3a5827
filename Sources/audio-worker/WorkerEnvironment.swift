import Foundation
import PipelineCore
import SQLiteQueue

/// The embedded deployment: an SQLite queue and a file store under one data directory, plus the pipelines.
struct WorkerEnvironment: Sendable {
    let configuration: Configuration
    let dataDirectory: URL
    let queue: SQLiteJobQueue
    let store: FileSystemStore
    let pipelines: Pipelines

    /// Opens (creating) `DATA/queue.sqlite` and `DATA/store/`.
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
            path: directory.appendingPathComponent("queue.sqlite").path,
            retryPolicy: RetryPolicy(
                maxAttempts: worker.maxAttempts, baseDelay: worker.retryBase, maxDelay: worker.retryMax))
        return WorkerEnvironment(
            configuration: configuration, dataDirectory: directory, queue: queue,
            store: FileSystemStore(root: directory.appendingPathComponent("store")),
            pipelines: Pipelines(configuration: configuration))
    }

    /// The executor for jobs, with pipelines built from the configuration.
    var executor: JobExecutor {
        let pipelines = self.pipelines
        return JobExecutor(
            store: self.store, encoder: pipelines.encoder,
            pipelines: JobExecutor.Pipelines(
                transcription: { function, language in
                    try pipelines.transcription(function: function, language: language)
                },
                speech: { function, voice, rate in
                    try pipelines.speech(function: function, voice: voice, sampleRate: rate)
                }))
    }

    /// A worker over this environment's queue.
    func worker(concurrency: Int?, drain: Bool, drainWait: Duration, logger: Logger, shutdown: ShutdownSignal)
        -> QueueWorker
    {
        let settings = self.configuration.worker.worker
        return QueueWorker(
            queue: self.queue, executor: self.executor,
            settings: QueueWorker.Settings(
                concurrency: concurrency ?? settings.concurrency, lease: settings.lease, heartbeat: settings.heartbeat,
                poll: settings.poll, shutdownGrace: settings.shutdownGrace, drain: drain, drainWait: drainWait),
            owner: Self.owner, logger: logger, shutdown: shutdown)
    }

    /// `host:pid`, naming this process in leases.
    static var owner: String { "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)" }
}
