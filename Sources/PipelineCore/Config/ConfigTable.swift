import Foundation

/// A TOML table read as configuration: typed lookups whose errors name the key's place in the file.
package struct ConfigTable: Sendable {
    /// The table read.
    package let table: TOMLTable
    /// Its dotted path from the document root (`models.whisper.providers.local`), empty for the root.
    package let path: String
    /// The file it came from.
    package let file: String

    /// Wraps `table`, found at `path` in `file`.
    package init(_ table: TOMLTable, path: String, file: String) {
        self.table = table
        self.path = path
        self.file = file
    }

    /// Reads and parses a TOML file; syntax errors carry their line and column.
    package static func load(contentsOf path: String) throws(ConfigError) -> ConfigTable {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(file: path, message: "cannot read the file (\(error.localizedDescription))")
        }
        do {
            return ConfigTable(try TOMLParser.parse(text, file: path), path: "", file: path)
        } catch {
            throw ConfigError(error)
        }
    }

    /// The dotted name of `key` in this table, for messages.
    package func qualified(_ key: String) -> String {
        self.path.isEmpty ? key : "\(self.path).\(key)"
    }

    /// An error about `key`, located where the key is (or where this table is).
    package func error(_ key: String?, _ message: String) -> ConfigError {
        let location = key.flatMap { self.table.location(of: $0) } ?? self.table.location
        return ConfigError(file: self.file, location: location, message: message)
    }

    /// Fails on any key not in `allowed`, naming it and where it is.
    package func rejectUnknownKeys(allowing allowed: Set<String>) throws(ConfigError) {
        for key in self.table.keys where !allowed.contains(key) {
            let section = self.path.isEmpty ? "at the top level" : "in [\(self.path)]"
            throw self.error(
                key, "unknown key '\(key)' \(section); expected one of: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// Whether the table has `key`.
    package func contains(_ key: String) -> Bool { self.table[key] != nil }

    /// A string value, or nil when absent.
    package func string(_ key: String) throws(ConfigError) -> String? {
        guard let value = self.table[key] else { return nil }
        guard case .string(let text) = value else { throw self.typeError(key, "a string", value) }
        return text
    }

    /// A required string value.
    package func requiredString(_ key: String) throws(ConfigError) -> String {
        guard let text = try self.string(key) else {
            throw self.error(nil, "missing required key '\(self.qualified(key))'")
        }
        return text
    }

    /// An integer within `range`, or nil when absent.
    package func integer(_ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let value = self.table[key] else { return nil }
        guard case .integer(let number) = value else { throw self.typeError(key, "an integer", value) }
        guard let small = Int(exactly: number), range.contains(small) else {
            throw self.error(
                key, "'\(self.qualified(key))' must be from \(range.lowerBound) to \(range.upperBound), not \(number)")
        }
        return small
    }

    /// A number (integer or float) within `range`, or nil when absent.
    package func number(_ key: String, in range: ClosedRange<Double>) throws(ConfigError) -> Double? {
        guard let value = self.table[key] else { return nil }
        let number: Double
        switch value {
        case .integer(let integer): number = Double(integer)
        case .float(let float): number = float
        default: throw self.typeError(key, "a number", value)
        }
        guard number.isFinite, range.contains(number) else {
            throw self.error(
                key, "'\(self.qualified(key))' must be from \(range.lowerBound) to \(range.upperBound), not \(number)")
        }
        return number
    }

    /// A boolean, or nil when absent.
    package func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let value = self.table[key] else { return nil }
        guard case .boolean(let flag) = value else { throw self.typeError(key, "true or false", value) }
        return flag
    }

    /// An array of strings, or nil when absent.
    package func strings(_ key: String) throws(ConfigError) -> [String]? {
        guard let value = self.table[key] else { return nil }
        guard case .array(let items) = value else { throw self.typeError(key, "an array of strings", value) }
        var result: [String] = []
        for item in items {
            guard case .string(let text) = item else { throw self.typeError(key, "an array of strings", value) }
            result.append(text)
        }
        return result
    }

    /// A sub-table, or nil when absent.
    package func table(_ key: String) throws(ConfigError) -> ConfigTable? {
        guard let value = self.table[key] else { return nil }
        guard case .table(let table) = value else { throw self.typeError(key, "a table", value) }
        return ConfigTable(table, path: self.qualified(key), file: self.file)
    }

    /// Every sub-table, in document order, for sections such as `[models.NAME]`; other values are errors.
    package func subtables() throws(ConfigError) -> [(name: String, table: ConfigTable)] {
        var result: [(name: String, table: ConfigTable)] = []
        for key in self.table.keys {
            guard let table = try self.table(key) else { continue }
            result.append((key, table))
        }
        return result
    }

    private func typeError(_ key: String, _ expected: String, _ value: TOMLValue) -> ConfigError {
        self.error(key, "'\(self.qualified(key))' must be \(expected), not \(value.typeName)")
    }
}
