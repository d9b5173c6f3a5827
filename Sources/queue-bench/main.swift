import Foundation
import NATSBackend
import PipelineCore
import SQLiteQueue

let usage = """
    usage: queue-bench throughput (--db PATH | --nats URL) --jobs N [--concurrency C]
                        enqueue N jobs, lease and complete them all on SQLite or a JetStream server (C producers
                        and C worker loops at once); print JSON rates
           queue-bench work --db PATH --owner NAME      lease and complete until none is runnable; print each job id
    """

/// What queue-bench does.
enum Mode: String {
    case throughput
    case work
}

/// `count` jobs over `duration`, per second, rounded.
func rate(_ count: Int, _ duration: Duration) -> JSONValue {
    .number(duration.seconds > 0 ? (Double(count) / duration.seconds).rounded() : 0)
}

/// Enqueues `count` jobs, then leases and completes every one in a single worker loop, timing each phase.
func throughput(queue: any WorkQueue, count: Int) async throws -> JSONValue {
    let clock = ContinuousClock()
    let started = clock.now
    for index in 0..<count {
        let payload = JobPayload.synthesis(SynthesisJobSpec(text: "sentence \(index)", outputKey: "bench/\(index).wav"))
        _ = try await queue.enqueue(EnqueueRequest(payload: payload, idempotencyKey: "bench-\(run)-\(index)"))
    }
    let enqueued = clock.now
    var leasing = Duration.zero
    var completing = Duration.zero
    var completed = 0
    while true {
        let leaseStarted = clock.now
        guard let lease = try await queue.lease(owner: "queue-bench", wait: .zero) else { break }
        let completeStarted = clock.now
        try await queue.settle(lease, .succeeded(outputs: [], result: nil, progress: JobProgress(done: 1, total: 1)))
        let completeEnded = clock.now
        leasing += completeStarted - leaseStarted
        completing += completeEnded - completeStarted
        completed += 1
    }
    let total = clock.now - started
    guard completed == count else {
        throw JobQueueError.storage("enqueued \(count) jobs but completed \(completed)")
    }
    return .object([
        "jobs": .number(Double(count)),
        "seconds": .number((total.seconds * 1000).rounded() / 1000),
        "jobs_per_second": rate(count, total),
        "enqueue_per_second": rate(count, enqueued - started),
        "lease_per_second": rate(count, leasing),
        "complete_per_second": rate(count, completing),
    ])
}

/// Enqueues `count` jobs from `concurrency` producers at once, then leases and completes them in `concurrency`
/// worker loops at once, as a deployment with many producers and workers does: the rate the queue sustains when
/// its round trips overlap.
func concurrentThroughput(queue: any WorkQueue, count: Int, concurrency: Int) async throws -> JSONValue {
    let clock = ContinuousClock()
    let started = clock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
        for lane in 0..<concurrency {
            group.addTask {
                for index in stride(from: lane, to: count, by: concurrency) {
                    let payload = JobPayload.synthesis(
                        SynthesisJobSpec(text: "sentence \(index)", outputKey: "bench/\(index).wav"))
                    _ = try await queue.enqueue(
                        EnqueueRequest(payload: payload, idempotencyKey: "bench-\(run)-\(index)"))
                }
            }
        }
        try await group.waitForAll()
    }
    let enqueued = clock.now
    let completed = LockedValue(0)
    let deadline = clock.now + .seconds(300)
    try await withThrowingTaskGroup(of: Void.self) { group in
        for lane in 0..<concurrency {
            group.addTask {
                // A loop may find nothing for a moment while the others hold the rest; it stops when all are done.
                while completed.value < count {
                    guard clock.now < deadline else {
                        throw JobQueueError.storage("only \(completed.value) of \(count) jobs completed in 300 s")
                    }
                    guard let lease = try await queue.lease(owner: "queue-bench-\(lane)", wait: .milliseconds(100))
                    else { continue }
                    try await queue.settle(
                        lease, .succeeded(outputs: [], result: nil, progress: JobProgress(done: 1, total: 1)))
                    completed.withLock { $0 += 1 }
                }
            }
        }
        try await group.waitForAll()
    }
    let total = clock.now - started
    return .object([
        "jobs": .number(Double(count)), "concurrency": .number(Double(concurrency)),
        "seconds": .number((total.seconds * 1000).rounded() / 1000), "jobs_per_second": rate(count, total),
        "enqueue_per_second": rate(count, enqueued - started), "work_per_second": rate(count, clock.now - enqueued),
    ])
}

/// Leases and completes jobs until none is runnable, printing each completed job's id.
func work(queue: SQLiteJobQueue, owner: String) async throws {
    while let lease = try await queue.lease(owner: owner, wait: .zero) {
        try await queue.settle(lease, .succeeded(outputs: [], result: nil, progress: JobProgress(done: 1, total: 1)))
        print(lease.job.id)
    }
}

func fail(_ message: String, status: Int32) -> Never {
    FileHandle.standardError.write(Data("queue-bench: \(message)\n".utf8))
    exit(status)
}

/// Keys of this run, so that a second run against the same server enqueues jobs of its own.
let run = UUID().uuidString.prefix(8)
let arguments = Array(CommandLine.arguments.dropFirst())
do {
    guard let mode = arguments.first.flatMap(Mode.init(rawValue:)) else {
        throw UsageError(arguments.first.map { "unknown mode '\($0)'" } ?? "missing mode")
    }
    let options = try CommandLineArguments(
        Array(arguments.dropFirst()),
        accepting: CommandLineArguments.Specification(valueOptions: [
            "--db", "--nats", "--jobs", "--owner", "--concurrency",
        ]))
    _ = try options.operands(named: "operands", minimum: 0, maximum: 0)
    switch mode {
    case .throughput:
        guard let count = try options.integer("--jobs", in: 1...10_000_000) else { throw UsageError("missing --jobs") }
        let queue: any WorkQueue
        if let url = options.value("--nats") {
            // A stream, consumer and bucket of its own, never the worker's (it settles every job it leases as done
            // with no outputs); one replica, a 60 s lease.
            let settings = NATSSettings(
                url: url, stream: "QUEUE_BENCH", consumer: "queue-bench", bucket: "queue_bench")
            queue = try await JetStreamJobQueue.open(settings: settings, visibility: .seconds(60))
        } else if let path = options.value("--db") {
            queue = try await SQLiteJobQueue.open(path: path)
        } else {
            throw UsageError("missing --db or --nats")
        }
        let concurrency = try options.integer("--concurrency", in: 1...256) ?? 1
        let report =
            concurrency == 1
            ? try await throughput(queue: queue, count: count)
            : try await concurrentThroughput(queue: queue, count: count, concurrency: concurrency)
        print(try JSONOutput.string(report))
    case .work:
        guard let path = options.value("--db") else { throw UsageError("missing --db") }
        guard let owner = options.value("--owner") else { throw UsageError("missing --owner") }
        let queue = try await SQLiteJobQueue.open(path: path)
        try await work(queue: queue, owner: owner)
    }
} catch let error as UsageError {
    fail("\(error.message)\n\(usage)", status: 2)
} catch {
    fail("\(error)", status: 1)
}
