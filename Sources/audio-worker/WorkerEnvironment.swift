import CurlHTTP
import Foundation
import NATSBackend
import PipelineCore
import S3Storage
import SQLiteQueue

/// The composition root's deployment: the job backend, the storage, the pipelines and the event hub, chosen from
/// the configuration. The embedded default is an SQLite queue and a file store under one data directory; the
/// distributed one a JetStream stream and KV ledger (`[queue] backend = "jetstream"`) and S3.
struct WorkerEnvironment: Sendable {
    let configuration: Configuration
    let dataDirectory: URL
    let queue: JobStore
    let storage: any ObjectStorage
    let pipelines: Pipelines
    let events: JobEvents
    let requests: JobRequests
    let metrics: Metrics
    let liveAudio: LiveAudio
    /// What jobs may send to providers; the hourly cloud allowances are shared by every job of the process.
    let budgets: JobExecutor.Budgets
    /// Where finished transcripts are forwarded or written (media-audio, Supabase), when the environment names one.
    let persistence: TranscriptPersistence.Settings?

    /// The queue and ledger of one backend, with what only that backend offers.
    struct JobStore: Sendable {
        /// The work and the record, one object on either backend.
        let base: any WorkQueue & JobLedger
        /// Starts (on the first call) and returns the backend's cross-process change signal: SQLite's file watcher,
        /// JetStream's subscription to the ledger bucket's job records.
        let watchChanges: @Sendable () -> ChangeSignal?
        /// Repairs what a crashed enqueue left undone, before a worker starts (JetStream: records never published);
        /// the number of jobs repaired.
        let repair: (@Sendable () async throws -> Int)?

        /// The job with `id`, or nil.
        func job(id: String) async throws -> Job? { try await self.base.job(id: id) }
    }

    /// Opens (creating) the job backend (`DATA/queue.sqlite`, or the stream and bucket on NATS) and the store.
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
        let queue = try await Self.jobStore(configuration, dataDirectory: directory)
        let metrics = Metrics()
        let persistence = try TranscriptPersistence.Settings.from(environment: configuration.environment)
        return WorkerEnvironment(
            configuration: configuration, dataDirectory: directory, queue: queue,
            storage: try Self.storage(configuration, dataDirectory: directory),
            pipelines: Pipelines(configuration: configuration, metrics: metrics), events: JobEvents(),
            requests: JobRequests(configuration: configuration), metrics: metrics, liveAudio: LiveAudio(),
            budgets: Self.budgets(configuration.worker.budget), persistence: persistence)
    }

    /// The configured queue and ledger: SQLite under the data directory, or JetStream on `NATS_URL`.
    static func jobStore(_ configuration: Configuration, dataDirectory: URL) async throws -> JobStore {
        let worker = configuration.worker.worker
        switch configuration.worker.queue.backend {
        case .sqlite:
            let queue = try await SQLiteJobQueue.open(
                path: dataDirectory.appendingPathComponent("queue.sqlite").path, visibility: worker.lease,
                maxAttempts: worker.maxAttempts)
            return JobStore(base: queue, watchChanges: { queue.watchChanges() }, repair: nil)
        case .jetstream:
            guard var settings = NATSSettings(environment: configuration.environment) else {
                throw ConfigError(
                    file: configuration.workerFile,
                    message: "[queue] backend is jetstream but NATS_URL is not set (e.g. nats://127.0.0.1:4222)")
            }
            settings.replicas = configuration.worker.queue.replicas
            // Producers may publish JSON jobs on the request subjects themselves, held to the HTTP API's rules.
            let intake = JobIntake(
                defaults: Self.jobDefaults(configuration), requests: JobRequests(configuration: configuration))
            let queue = try await JetStreamJobQueue.open(
                settings: settings, visibility: worker.lease, maxAttempts: worker.maxAttempts, intake: intake)
            return JobStore(
                base: queue, watchChanges: { queue.watchChanges() },
                repair: { try await queue.republishUnsent(olderThan: .seconds(30)) })
        }
    }

    /// The service that hands every job event to the log, the metrics and, with `NATS_URL` set, NATS (whichever
    /// queue backend runs the jobs, so PMOVES hears them); the NATS publisher too, for `services.announce.v1`.
    func eventForwarder(logger: Logger) -> (member: ServiceGroup.Member, nats: NATSEventPublisher?) {
        let nats = NATSSettings(environment: self.configuration.environment).map {
            NATSEventPublisher(
                settings: $0, metrics: self.metrics, logger: logger.with("service", "events"),
                options: NATSEventPublisher.Options(environment: self.configuration.environment))
        }
        let publisher = EventPublishers(
            [LoggingEventPublisher(logger: logger), MetricsEventPublisher(metrics: self.metrics)]
                + (nats.map { [$0] } ?? []))
        let shutdown = ShutdownSignal()
        return (
            ServiceGroup.Member(
                JobEventForwarder(events: self.events, publisher: publisher, shutdown: shutdown), shutdown: shutdown),
            nats
        )
    }

    /// The job budgets of `[budget]`.
    static func budgets(_ budget: WorkerConfig.Budget) -> JobExecutor.Budgets {
        JobExecutor.Budgets(
            multiple: budget.maxSentMultiple, cloudAudioSecondsPerJob: budget.cloudAudioSecondsPerJob,
            cloudCharactersPerJob: budget.cloudCharactersPerJob,
            cloudAudioPerHour: budget.cloudAudioSecondsPerHour.map { CloudAllowance(perHour: $0) },
            cloudCharactersPerHour: budget.cloudCharactersPerHour.map { CloudAllowance(perHour: $0) })
    }

    /// What a network submission (`POST /v1/jobs`, a JSON job on NATS) leaves out, from the configuration.
    static func jobDefaults(_ configuration: Configuration) -> JobSubmission.Defaults {
        let storage = configuration.worker.storage
        return JobSubmission.Defaults(
            formats: configuration.worker.transcription.formats, speechFormat: configuration.worker.speech.format,
            transcriptPrefix: storage.transcriptPrefix, speechPrefix: storage.speechPrefix)
    }

    /// Publishes what crashed enqueues left unpublished, where the backend can tell; logged, never fatal (the next
    /// worker to start tries again).
    func repairQueue(logger: Logger) async {
        guard let repair = self.queue.repair else { return }
        do {
            let repaired = try await repair()
            if repaired > 0 {
                logger.info(
                    "queue repaired: jobs published that an enqueue left unpublished",
                    ["jobs": .number(Double(repaired))])
            }
        } catch {
            logger.error("queue repair failed", ["error": .string("\(error)")])
        }
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
    var backend: JobBackend {
        JobBackend(queue: self.queue.base, ledger: self.queue.base, changes: self.queue.watchChanges())
    }

    /// The way in for submissions, cancels and retries.
    var control: JobControl { JobControl(backend: self.backend, events: self.events, requests: self.requests) }

    /// The bucket jobs use when they name none.
    var defaultBucket: String { self.configuration.worker.storage.bucket }

    /// The default bucket's store.
    func defaultStore() throws -> any ObjectStore {
        try self.storage.bucket(self.defaultBucket)
    }

    /// The executor for jobs, with pipelines built from the configuration.
    func executor(events nats: NATSEventPublisher? = nil, logger: Logger) -> JobExecutor {
        let pipelines = self.pipelines
        var onTranscript: (@Sendable (String, TranscriptDocument) -> Void)? = nil
        if let nats {
            onTranscript = { id, document in nats.remember(id, document) }
        }
        return JobExecutor(
            storage: self.storage, defaultBucket: self.defaultBucket, requests: self.requests,
            encoder: pipelines.encoder,
            pipelines: JobExecutor.Pipelines(
                transcription: { function, language, prompt in
                    try pipelines.transcription(function: function, language: language, prompt: prompt)
                },
                speech: { function, voice, rate, speed in
                    try pipelines.speech(function: function, voice: voice, sampleRate: rate, speed: speed)
                }), liveAudio: self.liveAudio, budgets: self.budgets,
            persistence: self.persistence.map {
                TranscriptPersistence(
                    settings: $0, client: CurlHTTPClient(), metrics: self.metrics,
                    logger: logger.with("service", "persistence"))
            },
            onTranscript: onTranscript)
    }

    /// A worker over this environment's queue.
    /// A worker over this environment's queue; `nats` gets each finished transcript for the events that carry its
    /// text.
    func worker(
        concurrency: Int?, drain: Bool, drainWait: Duration, logger: Logger, shutdown: ShutdownSignal,
        nats: NATSEventPublisher? = nil
    ) -> QueueWorker {
        let settings = self.configuration.worker.worker
        return QueueWorker(
            backend: self.backend, executor: self.executor(events: nats, logger: logger), events: self.events,
            retryPolicy: RetryPolicy(baseDelay: settings.retryBase, maxDelay: settings.retryMax),
            settings: QueueWorker.Settings(
                concurrency: concurrency ?? settings.concurrency, heartbeat: settings.heartbeat, drain: drain,
                drainWait: drainWait),
            owner: Self.owner, logger: logger, shutdown: shutdown)
    }

    /// `host:pid`, naming this process in leases.
    static var owner: String { "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)" }
}
