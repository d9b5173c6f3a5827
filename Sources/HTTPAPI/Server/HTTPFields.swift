/// Header fields in the order they came, looked up by name without regard to case.
///
/// A name may occur more than once (`all(_:)` returns every value, in order); names are compared as ASCII
/// without case, as HTTP field names are.
package struct HTTPFields: Sendable, Sequence {
    /// One field.
    package typealias Element = (name: String, value: String)

    private var fields: [Element]

    /// Creates fields from `(name, value)` pairs, in order.
    package init(_ fields: [(String, String)] = []) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    /// The value of the first field named `name`, or nil.
    package func first(_ name: String) -> String? {
        self.fields.first { Self.sameName($0.name, name) }?.value
    }

    /// Every value of the fields named `name`, in order.
    package func all(_ name: String) -> [String] {
        self.fields.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    /// Appends a field.
    package mutating func append(_ name: String, _ value: String) {
        self.fields.append((name: name, value: value))
    }

    /// How many fields there are.
    package var count: Int { self.fields.count }

    /// The fields in order.
    package func makeIterator() -> IndexingIterator<[Element]> { self.fields.makeIterator() }

    /// Whether two field names are equal, ignoring ASCII case.
    static func sameName(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.count == rhs.utf8.count
            && zip(lhs.utf8, rhs.utf8).allSatisfy { Self.lowercased($0) == Self.lowercased($1) }
    }

    private static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }
}
