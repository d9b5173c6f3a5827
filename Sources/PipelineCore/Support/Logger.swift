import Foundation
import Synchronization

/// A logger passed down by value, carrying metadata (`job`, `chunk`, `provider`) into every record it writes.
package struct Logger: Sendable {
    /// Severity, lowest first.
    package enum Level: Int, Sendable, Comparable, Codable {
        case debug, info, warning, error

        package static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }

        /// The level's name in records.
        package var name: String {
            switch self {
            case .debug: "debug"
            case .info: "info"
            case .warning: "warning"
            case .error: "error"
            }
        }
    }

    private let sink: any LogSink
    private let minimum: Level
    private var metadata: [String: JSONValue]

    /// Creates a logger writing records at `minimum` or above to `sink`.
    package init(sink: any LogSink, minimum: Level = .info, metadata: [String: JSONValue] = [:]) {
        self.sink = sink
        self.minimum = minimum
        self.metadata = metadata
    }

    /// A logger that writes nothing.
    package static let silent = Logger(sink: DiscardingLogSink(), minimum: .error)

    /// This logger with one more metadata field.
    package func with(_ key: String, _ value: JSONValue) -> Logger {
        var copy = self
        copy.metadata[key] = value
        return copy
    }

    /// This logger with one more text field.
    package func with(_ key: String, _ value: String) -> Logger { self.with(key, .string(value)) }

    /// Writes a record; `message` is a short lowercase constant, details go in `fields`.
    package func log(_ level: Level, _ message: @autoclosure () -> String, _ fields: [String: JSONValue] = [:]) {
        guard level >= self.minimum else { return }
        self.sink.write(
            LogRecord(
                time: Date(), level: level, message: message(), fields: self.metadata.merging(fields) { $1 }))
    }

    /// Writes an info record.
    package func info(_ message: @autoclosure () -> String, _ fields: [String: JSONValue] = [:]) {
        self.log(.info, message(), fields)
    }

    /// Writes a warning record.
    package func warning(_ message: @autoclosure () -> String, _ fields: [String: JSONValue] = [:]) {
        self.log(.warning, message(), fields)
    }

    /// Writes an error record.
    package func error(_ message: @autoclosure () -> String, _ fields: [String: JSONValue] = [:]) {
        self.log(.error, message(), fields)
    }
}

/// One log record.
package struct LogRecord: Sendable {
    /// When it was written.
    package var time: Date
    /// Its severity.
    package var level: Logger.Level
    /// A short constant message.
    package var message: String
    /// Metadata and details.
    package var fields: [String: JSONValue]
}

/// Where log records go.
package protocol LogSink: Sendable {
    /// Writes one record; never throws, never blocks for long.
    func write(_ record: LogRecord)
}

/// One JSON object per line on standard error: `{"ts","level","msg",...fields}`.
package struct JSONLinesLogSink: LogSink {
    /// Creates a sink.
    package init() {}

    package func write(_ record: LogRecord) {
        var object = record.fields
        object["ts"] = .string(Self.timestamp(record.time))
        object["level"] = .string(record.level.name)
        object["msg"] = .string(record.message)
        guard let data = try? JSONOutput.encode(JSONValue.object(object)) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }

    /// RFC 3339 with milliseconds, in UTC.
    package static func timestamp(_ date: Date) -> String {
        date.formatted(
            .iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

/// Human-readable lines on standard error, for the interactive commands.
package struct TextLogSink: LogSink {
    /// Creates a sink.
    package init() {}

    package func write(_ record: LogRecord) {
        let details = record.fields.sorted { $0.key < $1.key }.map { key, value -> String in
            if case .string(let text) = value { return "\(key)=\(text)" }
            return "\(key)=\((try? JSONOutput.string(value)) ?? "?")"
        }
        let line = ([record.level.name + ":", record.message] + details).joined(separator: " ")
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

/// Keeps records in memory, for tests.
package final class InMemoryLogSink: LogSink {
    private let records = Mutex<[LogRecord]>([])

    /// Creates an empty sink.
    package init() {}

    package func write(_ record: LogRecord) { self.records.withLock { $0.append(record) } }

    /// Every record written so far.
    package var written: [LogRecord] { self.records.withLock { $0 } }
}

/// Drops every record.
package struct DiscardingLogSink: LogSink {
    /// Creates a sink.
    package init() {}

    package func write(_ record: LogRecord) {}
}
