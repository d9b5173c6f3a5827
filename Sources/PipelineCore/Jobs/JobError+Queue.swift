extension JobError {
    /// The error a queue records when a lease expired on the job's last allowed attempt: its worker died or hung.
    package static func workerLost(owner: String, attempts: Int) -> JobError {
        JobError(
            kind: "worker_lost",
            message: "the worker \(owner) was lost: its lease expired during attempt \(attempts), the last allowed",
            permanent: false)
    }

    /// The error a queue records for a stored job it cannot read, so the job stops instead of blocking the queue.
    package static func malformedRecord(_ reason: String) -> JobError {
        JobError(kind: "internal", message: "the stored job is malformed: \(reason)", permanent: true)
    }
}
