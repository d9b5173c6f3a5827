import Foundation
import PipelineCore
import SQLiteQueue
import Testing

struct SQLiteConcurrencyTests {
    @Test
    func twoConnectionsRacingToLeaseNeverShareAJob() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let queues = [try SQLiteJobQueue(path: database.path), try SQLiteJobQueue(path: database.path)]
        var enqueued: Set<String> = []
        for index in 0..<400 {
            enqueued.insert(try await queues[index % 2].enqueue(TestDatabase.request("job-\(index)")).job.id)
        }
        let leased = try await withThrowingTaskGroup(of: [String].self) { group in
            for worker in 0..<6 {
                let queue = queues[worker % 2]
                group.addTask {
                    var ids: [String] = []
                    while let lease = try await queue.lease(owner: "worker-\(worker)", wait: .zero) {
                        try await queue.settle(lease, .succeeded(outputs: [], result: nil, progress: JobProgress()))
                        ids.append(lease.job.id)
                    }
                    return ids
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(leased.count == enqueued.count)
        #expect(Set(leased) == enqueued)
        let finished = try await queues[0].jobs(status: .succeeded, limit: 1000)
        #expect(finished.count == enqueued.count)
        #expect(finished.allSatisfy { $0.attempts == 1 })
    }

    @Test
    func concurrentEnqueuesWithOneKeyOnTwoConnectionsMakeOneJob() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let queues = [try SQLiteJobQueue(path: database.path), try SQLiteJobQueue(path: database.path)]
        let results = try await withThrowingTaskGroup(of: (id: String, created: Bool).self) { group in
            for attempt in 0..<40 {
                let queue = queues[attempt % 2]
                group.addTask {
                    let (job, created) = try await queue.enqueue(TestDatabase.request("same", key: "video-42"))
                    return (job.id, created)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.filter(\.created).count == 1)
        #expect(Set(results.map(\.id)).count == 1)
        #expect(try await queues[1].jobs(status: nil, limit: 100).count == 1)
    }
}
