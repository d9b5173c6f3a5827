/// Every statement the queue runs, prepared once per connection and reused.
///
/// Parameters are numbered; each statement's comment lists them. Lease checks match `lease_token` and
/// `status = 'running'` together: settling clears the token, so a settled or re-leased job never matches.
struct QueueStatements: ~Copyable {
    let begin: SQLiteStatement
    let commit: SQLiteStatement
    let rollback: SQLiteStatement
    /// ?1 id.
    let jobByID: SQLiteStatement
    /// ?1 idempotency key.
    let jobByKey: SQLiteStatement
    /// ?1 id, ?2 kind, ?3 idempotency key, ?4 priority, ?5 payload, ?6 max attempts, ?7 now, ?8 origin.
    let insert: SQLiteStatement
    /// ?1 now: expired leases that must not run again (attempts used up, or cancellation requested).
    let expiredFinalLeases: SQLiteStatement
    /// ?1 id, ?2 status, ?3 error (NULL keeps it), ?4 now: stops a job outside any lease.
    let stop: SQLiteStatement
    /// ?1 now, ?2 token, ?3 owner, ?4 lease expiry.
    let claim: SQLiteStatement
    /// ?1 id, ?2 token, ?3 lease expiry, ?4 progress done (NULL keeps progress), ?5 progress total, ?6 now.
    let heartbeat: SQLiteStatement
    /// ?1 id, ?2 token, ?3 outputs, ?4 result, ?5 now, ?6 progress done, ?7 progress total: the cancel flag.
    let complete: SQLiteStatement
    /// ?1 id, ?2 token: attempts, max attempts, cancel requested.
    let leasedAttempts: SQLiteStatement
    /// ?1 job id.
    let deleteCheckpoints: SQLiteStatement
    /// No parameters: queued count, running count, earliest retry of a failed job.
    let pendingWork: SQLiteStatement
    /// No parameters: the earliest retry of a failed job or lease expiry, when time alone makes work runnable.
    let nextDue: SQLiteStatement
    /// ?1 id, ?2 status, ?3 error, ?4 run after (NULL keeps it), ?5 now.
    let settleFailure: SQLiteStatement
    /// ?1 id, ?2 token, ?3 now.
    let settleCancelled: SQLiteStatement
    /// ?1 id, ?2 token, ?3 now.
    let release: SQLiteStatement
    /// ?1 id, ?2 key, ?3 value, ?4 now.
    let saveCheckpoint: SQLiteStatement
    /// ?1 job id.
    let checkpoints: SQLiteStatement
    /// ?1 limit.
    let newest: SQLiteStatement
    /// ?1 status, ?2 limit.
    let newestWithStatus: SQLiteStatement
    /// ?1 id, ?2 now.
    let requestCancel: SQLiteStatement
    /// ?1 id, ?2 now.
    let requeue: SQLiteStatement

    /// Prepares every statement on `connection`.
    init(_ connection: borrowing SQLiteConnection) throws(SQLiteError) {
        let columns = SQLiteSchema.jobColumns
        let clearLease = "lease_token = NULL, lease_owner = NULL, lease_expires_at = NULL"
        let holdsLease = "id = ?1 AND lease_token = ?2 AND status = 'running'"
        // Each branch walks jobs_by_urgency in order and stops at its first match, so the claim stays cheap however
        // many jobs wait; the rowid breaks ties between jobs created in the same millisecond in insertion order.
        let candidates = [
            "status = 'queued'",
            "status = 'failed' AND run_after <= ?1 AND cancel_requested = 0",
            "status = 'running' AND lease_expires_at <= ?1",
        ].map {
            """
            SELECT * FROM (
                SELECT id, priority, created_at, rowid AS sequence FROM jobs WHERE \($0)
                ORDER BY priority DESC, created_at, rowid LIMIT 1)
            """
        }
        let begin = try connection.prepare("BEGIN IMMEDIATE", persistent: true)
        let commit = try connection.prepare("COMMIT", persistent: true)
        let rollback = try connection.prepare("ROLLBACK", persistent: true)
        let jobByID = try connection.prepare("SELECT \(columns) FROM jobs WHERE id = ?1", persistent: true)
        let jobByKey = try connection.prepare(
            "SELECT \(columns) FROM jobs WHERE idempotency_key = ?1", persistent: true)
        let insert = try connection.prepare(
            """
            INSERT INTO jobs (
                id, kind, status, idempotency_key, priority, payload, attempts, max_attempts, created_at, updated_at,
                run_after, origin)
            VALUES (?1, ?2, 'queued', ?3, ?4, ?5, 0, ?6, ?7, ?7, ?7, ?8)
            RETURNING \(columns)
            """, persistent: true)
        let expiredFinalLeases = try connection.prepare(
            """
            SELECT id, lease_owner, attempts, cancel_requested FROM jobs
            WHERE status = 'running' AND lease_expires_at <= ?1 AND (attempts >= max_attempts OR cancel_requested != 0)
            """, persistent: true)
        let stop = try connection.prepare(
            "UPDATE jobs SET status = ?2, error = coalesce(?3, error), \(clearLease), updated_at = ?4 WHERE id = ?1",
            persistent: true)
        let claim = try connection.prepare(
            """
            UPDATE jobs
            SET status = 'running', attempts = attempts + 1, lease_token = ?2, lease_owner = ?3,
                lease_expires_at = ?4, updated_at = ?1
            WHERE id = (
                SELECT id FROM (\(candidates.joined(separator: " UNION ALL ")))
                ORDER BY priority DESC, created_at, sequence LIMIT 1)
            RETURNING \(columns)
            """, persistent: true)
        let heartbeat = try connection.prepare(
            """
            UPDATE jobs
            SET lease_expires_at = ?3, progress_done = coalesce(?4, progress_done),
                progress_total = CASE WHEN ?4 IS NULL THEN progress_total ELSE ?5 END, updated_at = ?6
            WHERE \(holdsLease)
            RETURNING cancel_requested
            """, persistent: true)
        let complete = try connection.prepare(
            """
            UPDATE jobs
            SET status = 'succeeded', outputs = ?3, result = ?4, error = NULL, progress_done = ?6, progress_total = ?7,
                \(clearLease), updated_at = ?5
            WHERE \(holdsLease)
            RETURNING cancel_requested
            """, persistent: true)
        let leasedAttempts = try connection.prepare(
            "SELECT attempts, max_attempts, cancel_requested FROM jobs WHERE \(holdsLease)", persistent: true)
        let deleteCheckpoints = try connection.prepare("DELETE FROM checkpoints WHERE job_id = ?1", persistent: true)
        let pendingWork = try connection.prepare(
            """
            SELECT (SELECT count(*) FROM jobs WHERE status = 'queued'),
                (SELECT count(*) FROM jobs WHERE status = 'running'),
                (SELECT min(run_after) FROM jobs WHERE status = 'failed' AND cancel_requested = 0)
            """, persistent: true)
        let nextDue = try connection.prepare(
            """
            SELECT min(due) FROM (
                SELECT min(run_after) AS due FROM jobs WHERE status = 'failed' AND cancel_requested = 0
                UNION ALL SELECT min(lease_expires_at) FROM jobs WHERE status = 'running')
            """, persistent: true)
        let settleFailure = try connection.prepare(
            """
            UPDATE jobs SET status = ?2, error = ?3, run_after = coalesce(?4, run_after), \(clearLease), updated_at = ?5
            WHERE id = ?1
            RETURNING \(columns)
            """, persistent: true)
        let settleCancelled = try connection.prepare(
            "UPDATE jobs SET status = 'cancelled', \(clearLease), updated_at = ?3 WHERE \(holdsLease) RETURNING \(columns)",
            persistent: true)
        // A job asked to cancel is not handed to another worker: releasing it settles it as cancelled.
        let release = try connection.prepare(
            """
            UPDATE jobs
            SET status = CASE WHEN cancel_requested != 0 THEN 'cancelled' ELSE 'queued' END,
                attempts = max(attempts - 1, 0), run_after = ?3, \(clearLease), updated_at = ?3
            WHERE \(holdsLease)
            RETURNING \(columns)
            """, persistent: true)
        let saveCheckpoint = try connection.prepare(
            """
            INSERT INTO checkpoints (job_id, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (job_id, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
            """, persistent: true)
        let checkpoints = try connection.prepare(
            "SELECT key, value FROM checkpoints WHERE job_id = ?1", persistent: true)
        let newest = try connection.prepare(
            "SELECT \(columns) FROM jobs ORDER BY created_at DESC, rowid DESC LIMIT ?1", persistent: true)
        let newestWithStatus = try connection.prepare(
            "SELECT \(columns) FROM jobs WHERE status = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2",
            persistent: true)
        let requestCancel = try connection.prepare(
            "UPDATE jobs SET cancel_requested = 1, updated_at = ?2 WHERE id = ?1", persistent: true)
        let requeue = try connection.prepare(
            """
            UPDATE jobs SET status = 'queued', attempts = 0, cancel_requested = 0, run_after = ?2, updated_at = ?2
            WHERE id = ?1
            """, persistent: true)
        // Assigned only once every statement compiled: a noncopyable value cannot be left half-initialized.
        self.begin = begin
        self.commit = commit
        self.rollback = rollback
        self.jobByID = jobByID
        self.jobByKey = jobByKey
        self.insert = insert
        self.expiredFinalLeases = expiredFinalLeases
        self.stop = stop
        self.claim = claim
        self.heartbeat = heartbeat
        self.complete = complete
        self.leasedAttempts = leasedAttempts
        self.deleteCheckpoints = deleteCheckpoints
        self.pendingWork = pendingWork
        self.nextDue = nextDue
        self.settleFailure = settleFailure
        self.settleCancelled = settleCancelled
        self.release = release
        self.saveCheckpoint = saveCheckpoint
        self.checkpoints = checkpoints
        self.newest = newest
        self.newestWithStatus = newestWithStatus
        self.requestCancel = requestCancel
        self.requeue = requeue
    }
}
