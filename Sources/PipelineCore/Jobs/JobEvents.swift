import Foundation
import Synchronization

/// One change in a job's life, as the process saw it happen.
package struct JobEvent: Sendable {
    /// What changed.
    package enum Kind: String, Sendable, CaseIterable {
        /// Enqueued, or returned to the queue by `retry`.
        case queued
        /// Leased by a worker: an attempt started.
        case running
        /// A unit of work (a chunk, a piece of speech) finished.
        case progress
        /// Finished, outputs stored.
        case succeeded
        /// The attempt failed; a retry is scheduled at the job's `runAfter`.
        case failed
        /// Will not run again.
        case dead
        /// Stopped on request.
        case cancelled
        /// Returned to the queue at shutdown, not finished and not failed.
        case released
    }

    /// What changed.
    package var kind: Kind
    /// The job as it was just after the change.
    package var job: Job
    /// For `progress` of a transcription: the chunk that finished.
    package var chunk: ChunkUpdate?
    /// When the change happened.
    package var time: Date

    /// Creates an event.
    package init(_ kind: Kind, job: Job, chunk: ChunkUpdate? = nil, time: Date = Date()) {
        self.kind = kind
        self.job = job
        self.chunk = chunk
        self.time = time
    }

    /// Whether the job will not change again without an operator (succeeded, dead or cancelled).
    package var isFinal: Bool { self.kind == .succeeded || self.kind == .dead || self.kind == .cancelled }

    /// The event a settled job's new status stands for.
    package static func settled(_ job: Job) -> JobEvent {
        let kind: Kind =
            switch job.status {
            case .queued: .released
            case .running: .running
            case .succeeded: .succeeded
            case .failed: .failed
            case .dead: .dead
            case .cancelled: .cancelled
            }
        return JobEvent(kind, job: job)
    }
}

/// A finished transcription chunk, as progress events carry it (so a stream can show text as it comes).
package struct ChunkUpdate: Sendable, Equatable, Codable {
    /// The chunk's index.
    package var index: Int
    /// Its start in the input, in seconds.
    package var start: Double
    /// Its end, in seconds.
    package var end: Double
    /// The chunk's text (before stitching across chunk boundaries).
    package var text: String
    /// `model/provider` that served it; nil for a silent chunk that was not sent.
    package var provider: String?
}

/// Every job state change in this process, as a stream that any number of subscribers follow.
///
/// The worker publishes what it does (leases, chunks, settlements) and ``JobControl`` what people and producers
/// do (submissions, cancels, retries). Subscribers (the synchronous HTTP routes waiting for a job, metrics, the
/// ``EventPublisher`` that announces results) each get their own stream; a subscriber that falls far behind loses
/// its oldest progress events, never anyone else's, and never blocks the publisher.
package final class JobEvents: Sendable {
    private struct Subscriber {
        var jobID: String?
        var continuation: AsyncStream<JobEvent>.Continuation
    }

    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let nextID = Atomic<UInt64>(0)
    private let bufferLimit: Int

    /// Creates a hub; each subscriber buffers up to `bufferLimit` events it has not read yet.
    package init(bufferLimit: Int = 4096) {
        self.bufferLimit = bufferLimit
    }

    /// Sends `event` to every subscriber that follows its job.
    package func publish(_ event: JobEvent) {
        let targets = self.subscribers.withLock { subscribers in
            subscribers.values.filter { $0.jobID == nil || $0.jobID == event.job.id }.map(\.continuation)
        }
        for continuation in targets {
            continuation.yield(event)
        }
    }

    /// Events from now on: every job's, or only `jobID`'s. The stream ends when the consumer stops iterating or
    /// calls ``JobSubscription/finish()``.
    package func subscribe(jobID: String? = nil) -> JobSubscription {
        let id = self.nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let (stream, continuation) = AsyncStream.makeStream(
            of: JobEvent.self, bufferingPolicy: .bufferingNewest(self.bufferLimit))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        self.subscribers.withLock { $0[id] = Subscriber(jobID: jobID, continuation: continuation) }
        return JobSubscription(events: stream, continuation: continuation, id: id, hub: self)
    }

    /// Narrows a subscription to one job's events from now on.
    fileprivate func follow(_ subscription: UInt64, jobID: String) {
        self.subscribers.withLock { $0[subscription]?.jobID = jobID }
    }

    /// How many subscribers follow now (for tests and metrics).
    package var subscriberCount: Int { self.subscribers.withLock { $0.count } }
}

/// One subscriber's events.
package struct JobSubscription: Sendable {
    /// The events, in the order they were published.
    package let events: AsyncStream<JobEvent>
    fileprivate let continuation: AsyncStream<JobEvent>.Continuation
    fileprivate let id: UInt64
    fileprivate let hub: JobEvents

    /// Ends the stream once the events already buffered have been read.
    package func finish() { self.continuation.finish() }

    /// From now on, receives only `jobID`'s events (a subscription made before its job existed, so that none of
    /// the job's events could be missed, narrows to it once the id is known).
    package func follow(jobID: String) { self.hub.follow(self.id, jobID: jobID) }
}

/// Announces job results outside the process (NATS subjects in PMOVES; a log line on the embedded default).
package protocol EventPublisher: Sendable {
    /// Announces `event`; failures are the publisher's to count and log, never the job's.
    func publish(_ event: JobEvent) async
}

/// An ``EventPublisher`` that writes each final state as one log record.
package struct LoggingEventPublisher: EventPublisher {
    private let logger: Logger

    /// Creates a publisher writing to `logger`.
    package init(logger: Logger) {
        self.logger = logger
    }

    package func publish(_ event: JobEvent) async {
        guard event.isFinal || event.kind == .failed else { return }
        self.logger.info(
            "job event",
            [
                "event": .string(event.kind.rawValue), "job": .string(event.job.id),
                "kind": .string(event.job.kind.rawValue),
                "outputs": .array(event.job.outputs.map { .string($0) }),
            ])
    }
}

/// The service that hands every job event to an ``EventPublisher``; started first, so it stops last and announces
/// everything the worker did before it stopped.
package struct JobEventForwarder: Service {
    package let name = "events"
    private let subscription: JobSubscription
    private let publisher: any EventPublisher
    private let shutdown: ShutdownSignal

    /// Subscribes now, so no event published after this call is missed.
    package init(events: JobEvents, publisher: any EventPublisher, shutdown: ShutdownSignal) {
        self.subscription = events.subscribe()
        self.publisher = publisher
        self.shutdown = shutdown
    }

    package func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.shutdown.wait()
                self.subscription.finish()
            }
            for await event in self.subscription.events {
                await self.publisher.publish(event)
            }
            group.cancelAll()
        }
    }
}

/// An ``EventPublisher`` that counts job events in ``Metrics``: state changes by kind, and audio processed.
package struct MetricsEventPublisher: EventPublisher {
    private let metrics: Metrics

    /// Creates a publisher counting into `metrics`.
    package init(metrics: Metrics) {
        self.metrics = metrics
    }

    package func publish(_ event: JobEvent) async {
        self.metrics.increment(
            "audio_worker_job_events_total", ["kind": event.job.kind.rawValue, "event": event.kind.rawValue],
            help: "Job state changes seen by this process, by job kind and event.")
        if event.kind == .succeeded, case .number(let seconds) = event.job.result?["duration"] {
            self.metrics.increment(
                "audio_worker_audio_seconds_total", ["kind": event.job.kind.rawValue], by: seconds,
                help: "Seconds of audio transcribed or synthesized by finished jobs.")
        }
    }
}

/// Hands each event to several publishers in turn.
package struct EventPublishers: EventPublisher {
    private let publishers: [any EventPublisher]

    /// Creates a fan-out over `publishers`.
    package init(_ publishers: [any EventPublisher]) {
        self.publishers = publishers
    }

    package func publish(_ event: JobEvent) async {
        for publisher in self.publishers {
            await publisher.publish(event)
        }
    }
}
