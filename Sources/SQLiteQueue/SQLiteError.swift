internal import CSQLite

/// A failed SQLite call: the function, SQLite's extended result code and its message.
struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The extended result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT_UNIQUE`, ...).
    var code: Int32
    /// SQLite's message for the failure, from `sqlite3_errmsg` when a connection was at hand.
    var message: String
    /// The C function (and, for statements, the start of the SQL) that failed.
    var operation: String

    /// Creates an error record.
    init(code: Int32, message: String, operation: String) {
        self.code = code
        self.message = message
        self.operation = operation
    }

    var description: String { "\(self.operation): \(self.message) (SQLite code \(self.code))" }

    /// The error for `code`, with the connection's message when it has one about this failure.
    static func from(_ code: Int32, connection: OpaquePointer?, operation: String) -> SQLiteError {
        let message: String
        if let connection, sqlite3_extended_errcode(connection) == code {
            message = String(cString: sqlite3_errmsg(connection))
        } else {
            message = String(cString: sqlite3_errstr(code))
        }
        return SQLiteError(code: code, message: message, operation: operation)
    }
}

/// Throws unless `code` is `SQLITE_OK`; pass the connection so the error carries its message.
func check(_ code: Int32, _ operation: String, connection: OpaquePointer?) throws(SQLiteError) {
    if code != SQLITE_OK {
        throw SQLiteError.from(code, connection: connection, operation: operation)
    }
}
