import Foundation
import Synchronization

/// The worker service: leases up to `concurrency` jobs at once, runs each through a ``JobExecutor`` while
/// heartbeating its lease, settles it, and publishes every change on ``JobEvents``. A failed job never stops it.
///
/// Idle, it waits in the queue's long-poll `lease`, which wakes on new work: no polling. Shutdown is graceful
/// first: once its ``ShutdownSignal`` is raised no new job is leased and running jobs finish; if it is cancelled
/// (the ``ServiceGroup``'s grace ran out), running jobs are returned to the queue without counting the attempt.
/// With `drain`, it stops by itself once the queue has nothing left to do.
package struct QueueWorker: Service {
    /// How the worker runs.
    package struct Settings: Sendable, Equatable {
        /// Jobs at once.
        package var concurrency: Int
        /// How often running jobs heartbeat (well under the queue's lease visibility).
        package var heartbeat: Duration
        /// How long one idle `lease` call waits for work before the worker looks again.
        package var idleWait: Duration
        /// Whether to stop once nothing is queued, running, or due to be retried within `drainWait`.
        package var drain: Bool
        /// With `drain`, how far ahead a scheduled retry keeps the worker waiting.
        package var drainWait: Duration

        /// Creates settings.
        package init(
            concurrency: Int = 2, heartbeat: Duration = .seconds(10), idleWait: Duration = .seconds(30),
            drain: Bool = false, drainWait: Duration = .seconds(60)
        ) {
            self.concurrency = max(concurrency, 1)
            self.heartbeat = heartbeat
            self.idleWait = idleWait
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

    package let name = "worker"
    private let queue: any WorkQueue
    private let ledger: any JobLedger
    private let executor: JobExecutor
    private let events: JobEvents
    private let retryPolicy: RetryPolicy
    private let settings: Settings
    private let owner: String
    private let logger: Logger
    private let shutdown: ShutdownSignal
    private let clock: any MonotonicClock

    /// Creates a worker; `owner` names it in leases (`host:pid`).
    package init(
        backend: JobBackend, executor: JobExecutor, events: JobEvents, retryPolicy: RetryPolicy, settings: Settings,
        owner: String, logger: Logger, shutdown: ShutdownSignal, clock: any MonotonicClock = SystemClock()
    ) {
        self.queue = backend.queue
        self.ledger = backend.ledger
        self.executor = executor
        self.events = events
        self.retryPolicy = retryPolicy
        self.settings = settings
        self.owner = owner
        self.logger = logger.with("worker", owner)
        self.shutdown = shutdown
        self.clock = clock
    }

    package func run() async throws {
        _ = try await self.work()
    }

    /// Works jobs until shutdown (or, with `drain`, until the queue is settled) and says what it did.
    package func work() async throws -> Summary {
        let tracker = LockedValue((inFlight: 0, summary: Summary()))
        let ended = ChangeSignal()
        self.logger.info("worker started", ["concurrency": .number(Double(self.settings.concurrency))])
        try await withThrowingDiscardingTaskGroup { group in
            while !self.shutdown.isRequested {
                let seen = ended.generation
                if tracker.value.inFlight >= self.settings.concurrency {
                    // Full: wait for a job to end (no polling); shutdown is noticed when one does.
                    await ended.wait(after: seen, timeout: .seconds(3600))
                    continue
                }
                let leases: [JobLease]
                do {
                    leases = try await self.leaseUnlessShuttingDown()
                } catch is CancellationError {
                    break
                } catch {
                    self.logger.error("lease failed", ["error": .string("\(error)")])
                    try await self.clock.sleep(for: .seconds(1))
                    continue
                }
                for lease in leases {
                    tracker.withLock { $0.inFlight += 1 }
                    group.addTask {
                        let outcome = await self.handle(lease)
                        HeapTrim.releaseFreeMemory()
                        tracker.withLock { state in
                            state.inFlight -= 1
                            state.summary.count(outcome)
                        }
                        ended.notify()
                    }
                }
                if leases.isEmpty, self.settings.drain, tracker.value.inFlight == 0, try await self.queueIsSettled() {
                    self.logger.info("queue drained")
                    break
                }
            }
            if self.shutdown.isRequested {
                self.logger.info("shutting down", ["running": .number(Double(tracker.value.inFlight))])
            }
            // Running jobs finish as the group ends; if it is cancelled meanwhile, each returns itself to the queue.
        }
        let summary = tracker.value.summary
        self.logger.info(
            "worker stopped",
            [
                "succeeded": .number(Double(summary.succeeded)), "failed": .number(Double(summary.failed)),
                "cancelled": .number(Double(summary.cancelled)), "released": .number(Double(summary.released)),
            ])
        return summary
    }

    /// Waits in the queue's long poll for the next job, until work arrives or shutdown is asked; a lease that
    /// arrives as shutdown begins is still returned (and run), since it was claimed.
    private func leaseUnlessShuttingDown() async throws -> [JobLease] {
        // A draining worker looks often, so it notices quickly when everything has settled.
        let wait = self.settings.drain ? min(self.settings.idleWait, .milliseconds(250)) : self.settings.idleWait
        return try await withThrowingTaskGroup(of: JobLease?.self) { group in
            group.addTask { try await self.queue.lease(owner: self.owner, wait: wait) }
            group.addTask {
                await self.shutdown.wait()
                return nil
            }
            var leases: [JobLease] = []
            var failure: (any Error)?
            do {
                if let first = try await group.next(), let lease = first {
                    leases.append(lease)
                }
            } catch {
                failure = error
            }
            group.cancelAll()
            while let next = try? await group.next() {
                if let lease = next {
                    leases.append(lease)
                }
            }
            if let failure, leases.isEmpty {
                throw failure
            }
            return leases
        }
    }

    /// Nothing queued, nothing running anywhere, and no retry due soon. A ledger that cannot say (a NATS leader
    /// election, a locked database) is not settled: the draining worker looks again a second later, as it does
    /// when a lease fails, instead of exiting with the error.
    private func queueIsSettled() async throws -> Bool {
        let pending: PendingWork
        do {
            pending = try await self.ledger.pendingWork()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            self.logger.warning("reading the pending work failed", ["error": .string("\(error)")])
            try await self.clock.sleep(for: .seconds(1))
            return false
        }
        guard pending.queued == 0, pending.running == 0 else { return false }
        guard let nextRetry = pending.nextRetry else { return true }
        return nextRetry > Date().addingTimeInterval(self.settings.drainWait.seconds)
    }

    /// How one job ended, for the summary.
    enum Outcome: Sendable {
        case succeeded, failed, cancelled, released, lost
    }

    /// Runs one leased job to a settled state; never throws.
    private func handle(_ lease: JobLease) async -> Outcome {
        let job = lease.job
        let logger = self.logger.with("job", job.id).with("kind", job.kind.rawValue)
        let started = self.clock.now
        logger.info("job started", ["attempt": .number(Double(job.attempts))])
        self.events.publish(JobEvent(.running, job: job))
        let progress = LockedValue<JobProgress?>(nil)
        let reporter = JobExecutor.Reporter(
            checkpoint: { key, value in
                try await self.ledger.saveCheckpoint(lease, key: key, value: value)
            },
            progress: { value, chunk in
                progress.withLock { $0 = value }
                var snapshot = job
                snapshot.progress = value
                self.events.publish(JobEvent(.progress, job: snapshot, chunk: chunk))
                if let chunk {
                    logger.info("chunk done", ["chunk": .number(Double(chunk.index))])
                }
            })

        enum Event: Sendable {
            case finished([String], JSONValue)
            case cancelRequested
            case leaseLost
        }
        let event: Result<Event, any Error> = await capturingResult {
            let checkpoints = try await self.ledger.checkpoints(jobID: job.id)
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
                            if try await self.queue.heartbeat(lease, progress: progress.value) {
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
            let settled: Job
            let outcome: Outcome
            switch event {
            case .success(.finished(let outputs, let result)):
                let done = progress.value.map { JobProgress(done: $0.total ?? $0.done, total: $0.total ?? $0.done) }
                settled = try await self.settleRetrying(
                    logger, progress.value,
                    lease,
                    .succeeded(outputs: outputs, result: result, progress: done ?? JobProgress(done: 0, total: 0)))
                logger.info("job succeeded", ["ms": .number(elapsed), "outputs": .array(outputs.map { .string($0) })])
                outcome = .succeeded
            case .success(.cancelRequested):
                settled = try await self.settleRetrying(logger, progress.value, lease, .cancelled)
                logger.info("job cancelled", ["ms": .number(elapsed)])
                outcome = .cancelled
            case .success(.leaseLost), .failure(JobQueueError.leaseLost):
                logger.warning("lease lost; another worker owns the job now")
                return .lost
            case .failure(is CancellationError):
                // Stopped from outside (shutdown past its grace, or the worker's caller): not the job's fault.
                settled = try await self.settleRetrying(logger, progress.value, lease, .released)
                logger.info("job returned to the queue at shutdown")
                outcome = .released
            case .failure(let error):
                let failure = Self.jobError(error)
                settled = try await self.settleRetrying(
                    logger, progress.value, lease, self.retryPolicy.settlement(for: failure, lease: lease))
                logger.error(
                    "job failed",
                    [
                        "error": .string(failure.message), "permanent": .bool(failure.permanent),
                        "status": .string(settled.status.rawValue), "ms": .number(elapsed),
                    ])
                outcome = settled.status == .cancelled ? .cancelled : .failed
            }
            self.events.publish(.settled(settled))
            return outcome
        } catch {
            // The queue itself failed; the lease will expire and the job run again.
            logger.error("settling the job failed", ["error": .string("\(error)")])
            return .lost
        }
    }

    /// Settles `lease`, retrying while the queue fails (a database another process holds locked, a NATS leader
    /// election), heartbeating meanwhile: a finished job's work is kept as long as its lease is, rather than done
    /// again, provider requests and all, when the lease expires. Gives up after five minutes, when the lease is
    /// lost, or when the worker is cancelled.
    private func settleRetrying(
        _ logger: Logger, _ progress: JobProgress?, _ lease: JobLease, _ settlement: JobSettlement
    ) async throws -> Job {
        let deadline = self.clock.now + .seconds(300)
        var delay = Duration.milliseconds(200)
        var lastHeartbeat = self.clock.now
        while true {
            do {
                return try await self.queue.settle(lease, settlement)
            } catch {
                // Only a failing store is worth waiting out: a lost lease, a job gone or in another state, or an
                // error of the worker's own is final. (Heartbeats start one interval after the first failure;
                // with SQLite's 5 s busy wait per attempt the lease is renewed well within its 60 s.)
                let transient: Bool
                if case JobQueueError.storage = error { transient = true } else { transient = false }
                guard transient, self.clock.now < deadline else { throw error }
                logger.warning(
                    "settling the job failed; trying again",
                    ["error": .string("\(error)"), "in_ms": .number((delay.seconds * 1000).rounded())])
                try await self.clock.sleep(for: delay)
                delay = min(delay * 2, self.settings.heartbeat)
                if self.clock.now - lastHeartbeat >= self.settings.heartbeat {
                    lastHeartbeat = self.clock.now
                    do {
                        _ = try await self.queue.heartbeat(lease, progress: progress)
                    } catch let lost as JobQueueError {
                        if case .leaseLost = lost { throw lost }
                    } catch {
                        // The queue still fails; the next settle attempt will say how.
                    }
                }
            }
        }
    }

    /// The error kind of a gateway failure: `budget` when the job's provider budget stopped it.
    private static func kind(of failure: GatewayError) -> String {
        if case .budgetSpent = failure.reason { return "budget" }
        return "provider"
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
            guard case .chunkFailed(_, _, _, let cause) = error else {
                return JobError(kind: "provider", message: error.description, permanent: error.isPermanent)
            }
            return JobError(
                kind: Self.kind(of: cause), message: error.description, permanent: error.isPermanent,
                details: cause.attempts.map(\.summary))
        case let error as SpeechError:
            guard case .pieceFailed(_, _, let cause) = error else {
                return JobError(kind: "bad_input", message: error.description, permanent: error.isPermanent)
            }
            return JobError(
                kind: Self.kind(of: cause), message: error.description, permanent: error.isPermanent,
                details: cause.attempts.map(\.summary))
        case let error as StorageError:
            switch error {
            case .notFound, .bucketNotFound:
                return JobError(kind: "input_missing", message: error.description, permanent: true)
            case .invalidKey, .invalidBucket, .tooLarge:
                return JobError(kind: "bad_input", message: error.description, permanent: true)
            case .accessDenied, .unavailable, .io:
                return JobError(kind: "storage", message: error.description, permanent: false)
            }
        case let error as RequestError:
            return JobError(kind: "bad_input", message: error.description, permanent: true)
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
