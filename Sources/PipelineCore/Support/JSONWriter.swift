import Foundation

/// Writes JSON text straight into bytes, for records written on every queue operation.
///
/// `JSONEncoder` builds a tree of boxed values and checks each one's type at run time; on a JetStream job's ledger
/// record that was about a quarter of queue-bench's CPU. A type that writes itself here states its keys once, in
/// order; its `Codable` conformance stays the reader (and a test compares the two writers' output).
package struct JSONWriter {
    /// The text so far, UTF-8.
    package private(set) var bytes: [UInt8] = []
    // Per open object or array: whether nothing has been written in it yet (no comma due).
    private var empty: [Bool] = []

    /// Thrown for a number JSON cannot hold (NaN, infinity).
    package struct InvalidNumber: Error, CustomStringConvertible {
        package let value: Double
        package var description: String { "JSON has no number \(self.value)" }
    }

    /// Creates an empty writer.
    package init() {
        self.bytes.reserveCapacity(1024)
    }

    /// The text as `Data`.
    package var data: Data { Data(self.bytes) }

    /// An object whose members `body` writes, each a ``key(_:)`` followed by one value.
    package mutating func object(_ body: (inout JSONWriter) throws -> Void) rethrows {
        self.bytes.append(UInt8(ascii: "{"))
        self.empty.append(true)
        defer { self.empty.removeLast() }
        try body(&self)
        self.bytes.append(UInt8(ascii: "}"))
    }

    /// An array of `elements`, each written by `write`.
    package mutating func array<Elements: Sequence>(
        _ elements: Elements, _ write: (inout JSONWriter, Elements.Element) throws -> Void
    ) rethrows {
        self.bytes.append(UInt8(ascii: "["))
        var first = true
        for element in elements {
            if !first { self.bytes.append(UInt8(ascii: ",")) }
            first = false
            try write(&self, element)
        }
        self.bytes.append(UInt8(ascii: "]"))
    }

    /// The next member's key, inside ``object(_:)``.
    package mutating func key(_ name: String) {
        if let last = self.empty.indices.last {
            if !self.empty[last] { self.bytes.append(UInt8(ascii: ",")) }
            self.empty[last] = false
        }
        self.string(name)
        self.bytes.append(UInt8(ascii: ":"))
    }

    /// A string member, left out when `value` is nil (as `Codable` leaves out an absent optional).
    package mutating func member(_ name: String, ifPresent value: String?) {
        guard let value else { return }
        self.key(name)
        self.string(value)
    }

    package mutating func null() {
        self.bytes.append(contentsOf: "null".utf8)
    }

    package mutating func bool(_ value: Bool) {
        self.bytes.append(contentsOf: (value ? "true" : "false").utf8)
    }

    package mutating func integer(_ value: some BinaryInteger) {
        self.bytes.append(contentsOf: String(value).utf8)
    }

    /// A number as Swift prints it, the shortest text that reads back as the same `Double`.
    package mutating func number(_ value: Double) throws {
        guard value.isFinite else { throw InvalidNumber(value: value) }
        self.bytes.append(contentsOf: value.description.utf8)
    }

    /// A date as `Date`'s own `Codable` form writes it: seconds since 2001-01-01.
    package mutating func date(_ value: Date) throws {
        try self.number(value.timeIntervalSinceReferenceDate)
    }

    /// A string, or `null` for nil.
    package mutating func string(_ value: String?) {
        guard let value else { return self.null() }
        self.bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): self.bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): self.bytes.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): self.bytes.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): self.bytes.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): self.bytes.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                self.bytes.append(contentsOf: #"\u00"#.utf8)
                self.bytes.append(contentsOf: Hex.encode(CollectionOfOne(byte)).utf8)
            default: self.bytes.append(byte)
            }
        }
        self.bytes.append(UInt8(ascii: "\""))
    }

    /// A ``JSONValue``, whole numbers without a fraction as its `Codable` form writes them.
    package mutating func value(_ value: JSONValue) throws {
        switch value {
        case .null: self.null()
        case .bool(let flag): self.bool(flag)
        case .number(let number):
            if number.rounded() == number, abs(number) < 1e15 {
                self.integer(Int64(number))
            } else {
                try self.number(number)
            }
        case .string(let text): self.string(text)
        case .array(let elements): try self.array(elements) { writer, element in try writer.value(element) }
        case .object(let members):
            try self.object { writer in
                // In key order, as the stored records' other objects are, so one value is always the same text.
                for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                    writer.key(name)
                    try writer.value(member)
                }
            }
        }
    }
}
