/// A table under construction that remembers how it was defined, so redefinitions can be rejected.
final class TOMLTableBuilder {
    /// How a table came to exist, which decides whether a header or a dotted key may define it again.
    enum Origin: Equatable {
        /// Created only as a prefix of a header's key; one later header may still define it.
        case implicit
        /// Defined by a header, as an element of an array of tables, or the root or an inline table.
        case header
        /// Created by a dotted key in the numbered section; only that section's dotted keys may add to it.
        case dotted(section: Int)
    }

    /// What a key holds while the document is read.
    enum Entry {
        /// A finished value; arrays and inline tables cannot be extended.
        case value(TOMLValue)
        /// A table that headers or dotted keys may still add to.
        case table(TOMLTableBuilder)
        /// An array of tables that `[[...]]` headers may append to.
        case arrayOfTables(ArrayOfTables)
    }

    /// The elements of an array of tables, appended to by each `[[...]]` header.
    final class ArrayOfTables {
        /// The element tables in document order; never empty.
        var elements: [TOMLTableBuilder] = []
    }

    /// How this table came to exist.
    var origin: Origin
    /// Where the table was opened, or `nil` for the root.
    var location: TOMLLocation?
    private var keys: [String] = []
    private var entries: [Entry] = []
    private var keyLocations: [TOMLLocation?] = []
    private var indices: [String: Int] = [:]

    /// Creates an empty table.
    init(origin: Origin, location: TOMLLocation?) {
        self.origin = origin
        self.location = location
    }

    /// What a key holds, or `nil` when it is not defined yet.
    subscript(key: String) -> Entry? {
        self.indices[key].map { self.entries[$0] }
    }

    /// Adds a key that is not defined yet.
    func add(_ entry: Entry, forKey key: String, at location: TOMLLocation) {
        self.indices[key] = self.keys.count
        self.keys.append(key)
        self.entries.append(entry)
        self.keyLocations.append(location)
    }

    /// Moves where a key counts as defined, for an implicit table that a header defines later.
    func setLocation(_ location: TOMLLocation, forKey key: String) {
        if let index = self.indices[key] {
            self.keyLocations[index] = location
        }
    }

    /// The finished table.
    func build() -> TOMLTable {
        var values: [TOMLValue] = []
        values.reserveCapacity(self.entries.count)
        for entry in self.entries {
            switch entry {
            case .value(let value):
                values.append(value)
            case .table(let builder):
                values.append(.table(builder.build()))
            case .arrayOfTables(let array):
                values.append(.array(array.elements.map { .table($0.build()) }))
            }
        }
        return TOMLTable(
            keys: self.keys, values: values, keyLocations: self.keyLocations, indices: self.indices,
            location: self.location)
    }
}
