import Foundation
import PipelineCore
import SQLiteQueue
import Testing

struct SQLiteMalformedRowTests {
    @Test(arguments: [
        ("payload", "'{not json'", "column payload does not hold a JobPayload"),
        (
            "payload", #"'{"synthesis":{"format":"wav","output_key":"x.wav","text":"Hi."}}'"#,
            "column payload is a synthesize payload for a transcribe job"
        ),
        ("payload", "'{\"transcription\":{}}'", "column payload does not hold a JobPayload"),
        ("outputs", "'{\"a\":1}'", "column outputs does not hold a Array<String>"),
        ("error", "'[1]'", "column error does not hold a JobError"),
        ("result", "'{'", "column result does not hold a JSONValue"),
        ("kind", "'juggle'", "column kind holds 'juggle', not a job kind"),
        ("status", "'paused'", "column status holds 'paused', not a job status"),
    ])
    func aMalformedRowIsAClearErrorNamingTheJobAndColumn(column: String, value: String, reason: String) async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let queue = try database.queue()
        let job = try await queue.enqueue(TestDatabase.request("one")).job
        try database.execute("UPDATE jobs SET \(column) = \(value) WHERE id = '\(job.id)'")

        let error = await #expect(throws: JobQueueError.self) {
            try await queue.job(id: job.id)
        }
        #expect(
            error?.description.contains("stored job \(job.id) is malformed: \(reason)") == true,
            "\(String(describing: error))")
        await #expect(throws: JobQueueError.self) {
            try await queue.jobs(status: nil, limit: 10)
        }
    }

    @Test
    func leasingStopsAMalformedJobAndMovesOn() async throws {
        let database = try TestDatabase()
        defer { database.remove() }
        let queue = try database.queue()
        let broken = try await queue.enqueue(TestDatabase.request("broken", priority: 2)).job
        let unknown = try await queue.enqueue(TestDatabase.request("unknown", priority: 1)).job
        let good = try await queue.enqueue(TestDatabase.request("good")).job
        try database.execute("UPDATE jobs SET payload = '{not json' WHERE id = '\(broken.id)'")
        try database.execute("UPDATE jobs SET status = 'paused' WHERE id = '\(unknown.id)'")

        let lease = try #require(try await queue.lease(owner: "worker", wait: .zero))
        #expect(lease.job.id == good.id)
        #expect(try await queue.lease(owner: "worker", wait: .zero) == nil)
        #expect(try database.text("SELECT status FROM jobs WHERE id = '\(broken.id)'") == "dead")
        #expect(try database.text("SELECT error ->> '$.kind' FROM jobs WHERE id = '\(broken.id)'") == "internal")
        let message = try database.text("SELECT error ->> '$.message' FROM jobs WHERE id = '\(broken.id)'")
        #expect(message?.hasPrefix("the stored job is malformed: ") == true)
        #expect(try database.text("SELECT status FROM jobs WHERE id = '\(unknown.id)'") == "paused")
    }
}
