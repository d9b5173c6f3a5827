import Foundation
import PipelineCore
import SQLiteQueue
import Testing

struct MultiProcessTests {
    @Test
    func twoWorkerProcessesCompleteEveryJobExactlyOnce() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let queue = try SQLiteJobQueue(path: database.path)
        var enqueued: Set<String> = []
        for index in 0..<1000 {
            enqueued.insert(try await queue.enqueue(TestDatabase.request("job-\(index)", key: "k\(index)")).job.id)
        }

        async let first = QueueBenchProcess.run(["work", "--db", database.path, "--owner", "process-a"])
        async let second = QueueBenchProcess.run(["work", "--db", database.path, "--owner", "process-b"])
        let outcomes = try await [first, second]

        for outcome in outcomes {
            #expect(outcome.status == 0, "queue-bench failed: \(outcome.stderr)")
        }
        let completed = outcomes.map { $0.stdout.split(separator: "\n").map(String.init) }
        #expect(completed[0].count + completed[1].count == enqueued.count)
        #expect(Set(completed[0]).isDisjoint(with: completed[1]))
        #expect(Set(completed[0] + completed[1]) == enqueued)
        let finished = try await queue.jobs(status: .succeeded, limit: 2000)
        #expect(finished.count == enqueued.count)
        #expect(finished.allSatisfy { $0.attempts == 1 })
    }

    @Test
    func queueBenchMeasuresAFullCycle() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let outcome = try await QueueBenchProcess.run(["throughput", "--db", database.path, "--jobs", "200"])
        #expect(outcome.status == 0, "queue-bench failed: \(outcome.stderr)")
        let report = try JSONDecoder().decode(JSONValue.self, from: Data(outcome.stdout.utf8))
        #expect(report["jobs"] == .number(200))
        for key in ["seconds", "jobs_per_second", "enqueue_per_second", "lease_per_second", "complete_per_second"] {
            guard case .number(let value)? = report[key] else {
                Issue.record("no number at \(key) in \(outcome.stdout)")
                continue
            }
            #expect(value > 0, "\(key)")
        }
    }
}
