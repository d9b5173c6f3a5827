/// The queue's database schema, as an ordered list of migrations recorded in `PRAGMA user_version`.
///
/// Never edit a released migration: append a new one. Times are integer milliseconds since 1970 (UTC); `payload`,
/// `error`, `outputs` and `result` are JSON text in the shape of their Swift types.
enum SQLiteSchema {
    /// One step from version `version - 1` to `version`.
    struct Migration: Sendable {
        /// The schema version after this step.
        var version: Int
        /// The SQL that makes the step; run inside the opening transaction.
        var sql: String
    }

    /// Every migration, in order; the last one's version is the version this code writes.
    static let migrations: [Migration] = [
        Migration(
            version: 1,
            sql: """
                CREATE TABLE jobs (
                    id TEXT PRIMARY KEY NOT NULL,
                    kind TEXT NOT NULL,
                    status TEXT NOT NULL,
                    idempotency_key TEXT,
                    priority INTEGER NOT NULL,
                    payload TEXT NOT NULL,
                    attempts INTEGER NOT NULL,
                    max_attempts INTEGER NOT NULL,
                    error TEXT,
                    progress_done INTEGER NOT NULL DEFAULT 0,
                    progress_total INTEGER,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    run_after INTEGER NOT NULL,
                    cancel_requested INTEGER NOT NULL DEFAULT 0,
                    outputs TEXT NOT NULL DEFAULT '[]',
                    result TEXT,
                    lease_token TEXT,
                    lease_owner TEXT,
                    lease_expires_at INTEGER
                ) STRICT;
                CREATE UNIQUE INDEX jobs_by_idempotency_key ON jobs (idempotency_key);
                CREATE INDEX jobs_by_urgency ON jobs (status, priority DESC, created_at);
                CREATE INDEX jobs_by_age ON jobs (created_at);
                CREATE INDEX jobs_by_status_and_age ON jobs (status, created_at);
                CREATE TABLE checkpoints (
                    job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
                    key TEXT NOT NULL,
                    value BLOB NOT NULL,
                    updated_at INTEGER NOT NULL,
                    PRIMARY KEY (job_id, key)
                ) STRICT, WITHOUT ROWID;
                """),
        // Who submitted a job: jobs from before version 2 all came from the command line.
        Migration(
            version: 2,
            sql: "ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'command_line';"),
    ]

    /// The columns that make a ``Job``, in the order `Job.init(row:)` reads them.
    static let jobColumns = """
        id, kind, status, idempotency_key, priority, payload, attempts, max_attempts, error, progress_done, \
        progress_total, created_at, updated_at, run_after, cancel_requested, outputs, result, origin
        """
}
