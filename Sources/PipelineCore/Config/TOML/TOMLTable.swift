/// A TOML table that keeps its keys in document order and where each key was defined.
///
/// Two tables are equal when they have the same keys in the same order with equal values;
/// locations are not compared.
package struct TOMLTable: Equatable, Sendable {
    /// The keys, in the order they were first defined in the document.
    package private(set) var keys: [String]
    /// Where this table was opened (its `[header]`, `[[header]]` or inline table); `nil` for the root.
    ///
    /// For a table created by a dotted key, this is where that key part is. For a table only implied by a
    /// longer header (`[a]` implied by `[a.b]`), it is that header until a header of its own defines it.
    package var location: TOMLLocation?
    /// The values, parallel to `keys`.
    private var values: [TOMLValue]
    /// Where each key was defined, parallel to `keys`.
    private var keyLocations: [TOMLLocation?]
    /// The position of each key in `keys`.
    private var indices: [String: Int]

    /// Creates an empty table.
    package init(location: TOMLLocation? = nil) {
        self.keys = []
        self.values = []
        self.keyLocations = []
        self.indices = [:]
        self.location = location
    }

    /// Creates a table from parallel arrays and the index of their keys, which the caller keeps consistent.
    init(
        keys: [String],
        values: [TOMLValue],
        keyLocations: [TOMLLocation?],
        indices: [String: Int],
        location: TOMLLocation?
    ) {
        self.keys = keys
        self.values = values
        self.keyLocations = keyLocations
        self.indices = indices
        self.location = location
    }

    /// Creates a table from key-value pairs in order; a repeated key keeps its first position and last value.
    package init(_ entries: [(key: String, value: TOMLValue)], location: TOMLLocation? = nil) {
        self.init(location: location)
        for entry in entries {
            self.setValue(entry.value, forKey: entry.key)
        }
    }

    /// The number of keys.
    package var count: Int {
        self.keys.count
    }

    /// Whether the table has no keys.
    package var isEmpty: Bool {
        self.keys.isEmpty
    }

    /// The key-value pairs in document order.
    package var entries: [(key: String, value: TOMLValue)] {
        zip(self.keys, self.values).map { (key: $0, value: $1) }
    }

    /// The value for a key, or `nil` when the key is not in the table.
    package subscript(key: String) -> TOMLValue? {
        self.indices[key].map { self.values[$0] }
    }

    /// Where the key was defined: the key in a key-value pair or dotted key, or the `[` of the header that defined
    /// the table (for an array of tables, its first `[[...]]` header).
    package func location(of key: String) -> TOMLLocation? {
        self.indices[key].flatMap { self.keyLocations[$0] }
    }

    /// Sets the value for a key, appending the key when it is new; a `nil` location keeps the old one.
    package mutating func setValue(_ value: TOMLValue, forKey key: String, location: TOMLLocation? = nil) {
        if let index = self.indices[key] {
            self.values[index] = value
            if let location {
                self.keyLocations[index] = location
            }
            return
        }
        self.indices[key] = self.keys.count
        self.keys.append(key)
        self.values.append(value)
        self.keyLocations.append(location)
    }

    /// Removes a key and its value, returning the value that was removed.
    @discardableResult
    package mutating func removeValue(forKey key: String) -> TOMLValue? {
        guard let index = self.indices.removeValue(forKey: key) else {
            return nil
        }
        self.keys.remove(at: index)
        self.keyLocations.remove(at: index)
        let value = self.values.remove(at: index)
        for (position, laterKey) in self.keys.enumerated().dropFirst(index) {
            self.indices[laterKey] = position
        }
        return value
    }

    /// The string for a key, or `nil` when absent or not a string.
    package func string(_ key: String) -> String? {
        self[key]?.stringValue
    }

    /// The integer for a key, or `nil` when absent or not an integer.
    package func integer(_ key: String) -> Int64? {
        self[key]?.integerValue
    }

    /// The number for a key (a float, or an integer converted), or `nil` when absent or not a number.
    package func double(_ key: String) -> Double? {
        self[key]?.doubleValue
    }

    /// The boolean for a key, or `nil` when absent or not a boolean.
    package func boolean(_ key: String) -> Bool? {
        self[key]?.booleanValue
    }

    /// The date-time text for a key, or `nil` when absent or not a date-time.
    package func datetime(_ key: String) -> String? {
        self[key]?.datetimeValue
    }

    /// The array for a key, or `nil` when absent or not an array.
    package func array(_ key: String) -> [TOMLValue]? {
        self[key]?.arrayValue
    }

    /// The table for a key, or `nil` when absent or not a table.
    package func table(_ key: String) -> TOMLTable? {
        self[key]?.tableValue
    }

    /// Whether two tables have the same keys in the same order with equal values, ignoring locations.
    package static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        lhs.keys == rhs.keys && lhs.values == rhs.values
    }
}

extension TOMLTable: ExpressibleByDictionaryLiteral {
    /// Creates a table from a dictionary literal, keeping the literal's key order.
    package init(dictionaryLiteral elements: (String, TOMLValue)...) {
        self.init(elements.map { (key: $0.0, value: $0.1) })
    }
}
