internal import CSQLite
import Foundation

/// An owned prepared statement, finalized when the owner goes away.
///
/// Use ``rows(_:_:)`` or ``run(_:)``: both bind the parameters, step to the end and reset, so a statement never
/// holds a read transaction open between uses.
struct SQLiteStatement: ~Copyable {
    /// The compiled statement.
    let handle: OpaquePointer
    /// The connection it belongs to, for error messages.
    let connection: OpaquePointer
    /// The start of its SQL, to name it in errors.
    let name: String

    /// Compiles `sql` on `connection`.
    init(connection: OpaquePointer, sql: String, persistent: Bool) throws(SQLiteError) {
        var compiled: OpaquePointer?
        let flags = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let name = SQLiteConnection.abbreviate(sql)
        let status = sqlite3_prepare_v3(connection, sql, -1, flags, &compiled, nil)
        guard status == SQLITE_OK, let compiled else {
            sqlite3_finalize(compiled)
            if status == SQLITE_OK {
                throw SQLiteError(code: SQLITE_MISUSE, message: "no SQL statement", operation: "prepare(\(name))")
            }
            throw SQLiteError.from(status, connection: connection, operation: "sqlite3_prepare_v3(\(name))")
        }
        self.handle = compiled
        self.connection = connection
        self.name = name
    }

    deinit {
        sqlite3_finalize(self.handle)
    }

    /// Binds `values` to parameters 1, 2, ..., runs the statement to completion and resets it.
    func run(_ values: [SQLiteValue] = []) throws(SQLiteError) {
        defer { self.reset() }
        try self.bind(values)
        while try self.step() {}
    }

    /// Binds `values`, calls `row` for each result row (read its columns with the accessors), then resets.
    func rows(_ values: [SQLiteValue], _ row: (borrowing SQLiteStatement) throws -> Void) throws {
        defer { self.reset() }
        try self.bind(values)
        while try self.step() {
            try row(self)
        }
    }

    /// Binds `values` and returns the first result row made into a value by `row`, or nil when there is none.
    func first<Value>(_ values: [SQLiteValue], _ row: (borrowing SQLiteStatement) throws -> Value) throws -> Value? {
        var value: Value?
        try self.rows(values) { statement in
            if value == nil {
                value = try row(statement)
            }
        }
        return value
    }

    private func step() throws(SQLiteError) -> Bool {
        let status = sqlite3_step(self.handle)
        switch status {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError.from(status, connection: self.connection, operation: "sqlite3_step(\(self.name))")
        }
    }

    private func reset() {
        // The step's own status was already checked; reset only repeats it.
        sqlite3_reset(self.handle)
        sqlite3_clear_bindings(self.handle)
    }

    private func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let status: Int32
            switch value {
            case .integer(let number):
                status = sqlite3_bind_int64(self.handle, index, number)
            case .text(let text):
                status = sqlite3_bind_text(self.handle, index, text, -1, csqlite_transient())
            case .blob(let data) where data.isEmpty:
                // An empty buffer may have no base address, which SQLite would bind as NULL.
                status = sqlite3_bind_zeroblob(self.handle, index, 0)
            case .blob(let data):
                status = data.withUnsafeBytes { bytes in
                    sqlite3_bind_blob(self.handle, index, bytes.baseAddress, Int32(bytes.count), csqlite_transient())
                }
            case .null:
                status = sqlite3_bind_null(self.handle, index)
            }
            try check(status, "sqlite3_bind(\(self.name), \(index))", connection: self.connection)
        }
    }

    /// Whether column `index` of the current row is NULL.
    func isNull(_ index: Int32) -> Bool { sqlite3_column_type(self.handle, index) == SQLITE_NULL }

    /// Column `index` of the current row as an integer (0 for NULL).
    func integer(_ index: Int32) -> Int64 { sqlite3_column_int64(self.handle, index) }

    /// Column `index` of the current row as text, or nil for NULL.
    func text(_ index: Int32) -> String? {
        guard let bytes = sqlite3_column_text(self.handle, index) else { return nil }
        let count = Int(sqlite3_column_bytes(self.handle, index))
        return String(decoding: UnsafeBufferPointer(start: bytes, count: count), as: UTF8.self)
    }

    /// Column `index` of the current row as bytes (empty for NULL or an empty blob).
    func blob(_ index: Int32) -> Data {
        guard let bytes = sqlite3_column_blob(self.handle, index) else { return Data() }
        return Data(bytes: bytes, count: Int(sqlite3_column_bytes(self.handle, index)))
    }
}
