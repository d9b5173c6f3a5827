import Foundation
import Synchronization

/// The worker service: leases up to `concurrency` jobs at once, runs each through a ``JobExecutor`` while
/// heartbeating its lease, and settles it. A failed job never stops the worker.
///
/// Shutdown is graceful first: once ``ShutdownSignal`` is raised no new job is leased, running jobs get
/// `shutdownGrace` to finish, and any still running are then cancelled and returned to the queue without
/// counting the attempt. With `drain`, the worker stops by itself once the queue has nothing left to do.
package struct QueueWorker: Sendable {
    /// How the worker runs.
    package struct Settings: Sendable, Equatable {
        /// Jobs at once.
        package var concurrency: Int
        /// A lease's length without a heartbeat.
        package var lease: Duration
        /// How often running jobs heartbeat.
        package var heartbeat: Duration
        /// How long an idle worker waits before asking the queue again.
        package var poll: Duration
        /// How long shutdown waits for running jobs.
        package var shutdownGrace: Duration
        /// Whether to stop once nothing is queued, running, or due to be retried within `drainWait`.
        package var drain: Bool
        /// With `drain`, how far ahead a scheduled retry keeps the worker waiting.
        package var drainWait: Duration

        /// Creates settings.
        package init(
            concurrency: Int = 2, lease: Duration = .seconds(60), heartbeat: Duration = .seconds(10),
            poll: Duration = .milliseconds(50), shutdownGrace: Duration = .seconds(30), drain: Bool = false,
            drainWait: Duration = .seconds(60)
        ) {
            self.concurrency = max(concurrency, 1)
            self.lease = lease
            self.heartbeat = heartbeat
            self.poll = poll
            self.shutdownGrace = shutdownGrace
            self.drain = drain
            self.drainWait = drainWait
        }
    }

    /// What a run did.
    package struct Summary: Sendable, Equatable {
        /// Jobs settled as succeeded.
        package var succeeded = 0
        /// Jobs settled as failed (retry scheduled) or dead.
        package var failed = 0
        /// Jobs settled as cancelled.
        package var cancelled = 0
        /// Jobs returned to the queue at shutdown.
        package var released = 0
    }

    private let queue: any JobQueue
    private let executor: JobExecutor
    private let settings: Settings
    private let owner: String
    private let logger: Logger
    private let shutdown: ShutdownSignal
    private let clock: any MonotonicClock

    /// Creates a worker; `owner` names it in leases (`host:pid`).
    package init(
        queue: any JobQueue, executor: JobExecutor, settings: Settings, owner: String, logger: Logger,
        shutdown: ShutdownSignal, clock: any MonotonicClock = SystemClock()
    ) {
        self.queue = queue
        self.executor = executor
        self.settings = settings
        self.owner = owner
        self.logger = logger.with("worker", owner)
        self.shutdown = shutdown
        self.clock = clock
    }

    /// Works jobs until shutdown (or, with `drain`, until the queue is settled).
    package func run() async throws -> Summary {
        let summary = LockedValue(Summary())
        let inFlight = LockedValue(0)
        self.logger.info("worker started", ["concurrency": .number(Double(self.settings.concurrency))])
        try await withThrowingDiscardingTaskGroup { group in
            while !self.shutdown.isRequested {
                if inFlight.value >= self.settings.concurrency {
                    try await self.idle()
                    continue
                }
                let lease: JobLease?
                do {
                    lease = try await self.queue.lease(owner: self.owner, visibility: self.settings.lease)
                } catch {
                    self.logger.error("lease failed", ["error": .string("\(error)")])
                    try await self.idle()
                    continue
                }
                if let lease {
                    inFlight.withLock { $0 += 1 }
                    group.addTask {
                        let outcome = await self.handle(lease)
                        summary.withLock { $0.count(outcome) }
                        inFlight.withLock { $0 -= 1 }
                    }
                    continue
                }
                if self.settings.drain, inFlight.value == 0, try await self.queueIsSettled() {
                    self.logger.info("queue drained")
                    break
                }
                try await self.idle()
            }
            if self.shutdown.isRequested {
                self.logger.info("shutting down", ["running": .number(Double(inFlight.value))])
                let deadline = self.clock.now + self.settings.shutdownGrace
                while inFlight.value > 0 && self.clock.now < deadline {
                    try await self.clock.sleep(for: .milliseconds(20))
                }
                // Past the grace period: cancel what is left; each job returns itself to the queue.
                group.cancelAll()
            }
        }
        let result = summary.value
        self.logger.info(
            "worker stopped",
            [
                "succeeded": .number(Double(result.succeeded)), "failed": .number(Double(result.failed)),
                "cancelled": .number(Double(result.cancelled)), "released": .number(Double(result.released)),
            ])
        return result
    }

    private func idle() async throws {
        try await self.clock.sleep(for: self.settings.poll)
    }

    /// Nothing queued, nothing running anywhere, and no retry due soon.
    private func queueIsSettled() async throws -> Bool {
        let pending = try await self.queue.pendingWork()
        guard pending.queued == 0, pending.running == 0 else { return false }
        guard let nextRetry = pending.nextRetry else { return true }
        return nextRetry > Date().addingTimeInterval(self.settings.drainWait.seconds)
    }

    /// How one job ended, for the summary.
    enum Outcome {
        case succeeded, failed, cancelled, released, lost
    }

    /// Runs one leased job to a settled state; never throws.
    private func handle(_ lease: JobLease) async -> Outcome {
        let job = lease.job
        let logger = self.logger.with("job", job.id).with("kind", job.kind.rawValue)
        let started = self.clock.now
        logger.info("job started", ["attempt": .number(Double(job.attempts))])
        let progress = LockedValue<JobProgress?>(nil)
        let reporter = JobExecutor.Reporter(
            checkpoint: { key, value in
                try await self.queue.saveCheckpoint(lease, key: key, value: value)
                logger.info("chunk done", ["checkpoint": .string(key)])
            },
            progress: { value in progress.withLock { $0 = value } })

        enum Event: Sendable {
            case finished([String], JSONValue)
            case cancelRequested
            case leaseLost
        }
        let event: Result<Event, any Error> = await capturingResult {
            let checkpoints = try await self.queue.checkpoints(jobID: job.id)
            return try await withThrowingTaskGroup(of: Event.self) { group in
                group.addTask {
                    let (outputs, result) = try await self.executor.execute(
                        job, checkpoints: checkpoints, reporter: reporter)
                    return .finished(outputs, result)
                }
                group.addTask {
                    while true {
                        try await self.clock.sleep(for: self.settings.heartbeat)
                        do {
                            let cancel = try await self.queue.heartbeat(
                                lease, progress: progress.value, visibility: self.settings.lease)
                            if cancel {
                                return .cancelRequested
                            }
                        } catch JobQueueError.leaseLost {
                            return .leaseLost
                        } catch is CancellationError {
                            throw CancellationError()
                        } catch {
                            logger.warning("heartbeat failed", ["error": .string("\(error)")])
                        }
                    }
                }
                defer { group.cancelAll() }
                guard let first = try await group.next() else { throw CancellationError() }
                return first
            }
        }
        let elapsed = ((self.clock.now - started).seconds * 1000).rounded()
        do {
            switch event {
            case .success(.finished(let outputs, let result)):
                try await self.queue.complete(lease, outputs: outputs, result: result)
                logger.info("job succeeded", ["ms": .number(elapsed), "outputs": .array(outputs.map { .string($0) })])
                return .succeeded
            case .success(.cancelRequested):
                try await self.queue.settleCancelled(lease)
                logger.info("job cancelled", ["ms": .number(elapsed)])
                return .cancelled
            case .success(.leaseLost), .failure(JobQueueError.leaseLost):
                logger.warning("lease lost; another worker owns the job now")
                return .lost
            case .failure(is CancellationError):
                // Stopped from outside (shutdown past its grace, or the worker's caller): not the job's fault.
                try await self.queue.release(lease)
                logger.info("job returned to the queue at shutdown")
                return .released
            case .failure(let error):
                let failure = Self.jobError(error)
                let settled = try await self.queue.fail(lease, error: failure)
                logger.error(
                    "job failed",
                    [
                        "error": .string(failure.message), "permanent": .bool(failure.permanent),
                        "status": .string(settled.status.rawValue), "ms": .number(elapsed),
                    ])
                return .failed
            }
        } catch {
            // The queue itself failed; the lease will expire and the job run again.
            logger.error("settling the job failed", ["error": .string("\(error)")])
            return .lost
        }
    }

    /// How an error is recorded with the job: bad input is permanent, everything else may be retried.
    package static func jobError(_ error: any Error) -> JobError {
        switch error {
        case let error as JobError:
            return error
        case let error as MediaError:
            return JobError(
                kind: error.isPermanent ? "bad_input" : "io", message: error.description, permanent: error.isPermanent)
        case let error as TranscriptionError:
            var details: [String] = []
            if case .chunkFailed(_, _, _, let cause) = error {
                details = cause.attempts.map(\.summary)
            }
            return JobError(
                kind: "provider", message: error.description, permanent: error.isPermanent, details: details)
        case let error as SpeechError:
            var details: [String] = []
            if case .pieceFailed(_, _, let cause) = error {
                details = cause.attempts.map(\.summary)
            }
            return JobError(
                kind: error.isPermanent && details.isEmpty ? "bad_input" : "provider", message: error.description,
                permanent: error.isPermanent, details: details)
        case let error as StorageError:
            switch error {
            case .notFound, .bucketNotFound:
                return JobError(kind: "input_missing", message: error.description, permanent: true)
            case .invalidKey, .invalidBucket, .tooLarge:
                return JobError(kind: "bad_input", message: error.description, permanent: true)
            case .accessDenied, .unavailable, .io:
                return JobError(kind: "storage", message: error.description, permanent: false)
            }
        case let error as ConfigError:
            return JobError(kind: "config", message: error.description, permanent: true)
        case let error as UsageError:
            return JobError(kind: "bad_input", message: error.message, permanent: true)
        default:
            return JobError(kind: "internal", message: "\(error)", permanent: false)
        }
    }
}

/// The outcome of `body`, with its error captured rather than thrown.
private func capturingResult<Value>(_ body: () async throws -> Value) async -> Result<Value, any Error> {
    do {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}

extension QueueWorker.Summary {
    fileprivate mutating func count(_ outcome: QueueWorker.Outcome) {
        switch outcome {
        case .succeeded: self.succeeded += 1
        case .failed: self.failed += 1
        case .cancelled: self.cancelled += 1
        case .released: self.released += 1
        case .lost: break
        }
    }
}
