internal import CSQLite

/// An owned `sqlite3` connection, closed when the owner goes away.
///
/// Opened in multi-thread mode: the connection may move between threads but must be used by one at a time, so its
/// owner keeps it behind a lock.
struct SQLiteConnection: ~Copyable {
    /// The open connection.
    let handle: OpaquePointer
    /// The database file, for error messages.
    let path: String

    /// Opens (creating if needed) the database at `path`, waiting up to `busyTimeoutMilliseconds` for locks.
    init(path: String, busyTimeoutMilliseconds: Int32) throws(SQLiteError) {
        var opened: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let status = sqlite3_open_v2(path, &opened, flags, nil)
        guard status == SQLITE_OK, let opened else {
            let error = SQLiteError.from(status, connection: opened, operation: "sqlite3_open_v2(\(path))")
            // SQLite allocates a handle even when opening fails; it must still be closed.
            sqlite3_close_v2(opened)
            throw error
        }
        do throws(SQLiteError) {
            try check(sqlite3_extended_result_codes(opened, 1), "sqlite3_extended_result_codes", connection: opened)
            try check(
                sqlite3_busy_timeout(opened, busyTimeoutMilliseconds), "sqlite3_busy_timeout", connection: opened)
        } catch {
            sqlite3_close_v2(opened)
            throw error
        }
        self.handle = opened
        self.path = path
    }

    deinit {
        // close_v2 defers the close until every statement of this connection is finalized, whatever the order in
        // which their owners are destroyed.
        sqlite3_close_v2(self.handle)
    }

    /// Runs one or more SQL statements that take no parameters and return no rows the caller needs.
    func execute(_ sql: String) throws(SQLiteError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let status = sqlite3_exec(self.handle, sql, nil, nil, &errorMessage)
        if status != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(status))
            sqlite3_free(errorMessage)
            throw SQLiteError(code: status, message: message, operation: "sqlite3_exec(\(Self.abbreviate(sql)))")
        }
    }

    /// Compiles `sql` into a statement owned by the caller; `persistent` hints that it will be reused many times.
    func prepare(_ sql: String, persistent: Bool = false) throws(SQLiteError) -> SQLiteStatement {
        try SQLiteStatement(connection: self.handle, sql: sql, persistent: persistent)
    }

    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    var changes: Int { Int(sqlite3_changes64(self.handle)) }

    /// The first line of `sql`, shortened, to name a statement in an error.
    static func abbreviate(_ sql: String) -> String {
        let line = sql.split(whereSeparator: \.isNewline).first.map(String.init) ?? sql
        let trimmed = line.trimmingPrefix(while: \.isWhitespace)
        return trimmed.count > 60 ? String(trimmed.prefix(60)) + "..." : String(trimmed)
    }
}
