/// A value in a TOML document.
///
/// Equality is structural, so `nan` equals `nan` (unlike `Double`'s `==`).
package enum TOMLValue: Equatable, Sendable {
    /// A string of any of the four TOML string forms, with escapes resolved.
    ///
    /// Line endings inside multi-line strings are normalized to `\n`.
    case string(String)
    /// A 64-bit signed integer written in decimal, hexadecimal, octal or binary.
    case integer(Int64)
    /// A 64-bit floating-point number, including `inf` and `nan`.
    case float(Double)
    /// A boolean.
    case boolean(Bool)
    /// An offset date-time, local date-time, local date or local time, kept as the text that was written.
    ///
    /// The text is validated but kept as written, with two normalizations: the date/time separator
    /// (`T`, `t` or a space) is always `T`, and a lowercase `z` offset is written `Z`.
    /// Fractional seconds keep all the digits that were written.
    case datetime(String)
    /// An array, from `[...]` or from an array of tables (`[[...]]`); elements may have mixed types.
    case array([TOMLValue])
    /// A table, from a `[header]`, dotted keys, an inline table or an element of an array of tables.
    case table(TOMLTable)

    /// The name of the value's type as TOML documentation spells it, for messages.
    package var typeName: String {
        switch self {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .datetime: "date-time"
        case .array: "array"
        case .table: "table"
        }
    }

    /// The string, if this is a string.
    package var stringValue: String? {
        if case .string(let value) = self { value } else { nil }
    }

    /// The integer, if this is an integer.
    package var integerValue: Int64? {
        if case .integer(let value) = self { value } else { nil }
    }

    /// The number, if this is a float or an integer (integers are converted).
    package var doubleValue: Double? {
        switch self {
        case .float(let value): value
        case .integer(let value): Double(value)
        default: nil
        }
    }

    /// The boolean, if this is a boolean.
    package var booleanValue: Bool? {
        if case .boolean(let value) = self { value } else { nil }
    }

    /// The date-time text, if this is a date, time or date-time.
    package var datetimeValue: String? {
        if case .datetime(let value) = self { value } else { nil }
    }

    /// The elements, if this is an array.
    package var arrayValue: [TOMLValue]? {
        if case .array(let value) = self { value } else { nil }
    }

    /// The table, if this is a table.
    package var tableValue: TOMLTable? {
        if case .table(let value) = self { value } else { nil }
    }

    /// Whether two values have the same case and equal contents, treating any two NaNs as equal.
    package static func == (lhs: TOMLValue, rhs: TOMLValue) -> Bool {
        switch (lhs, rhs) {
        case (.string(let left), .string(let right)): left == right
        case (.integer(let left), .integer(let right)): left == right
        case (.float(let left), .float(let right)): left == right || (left.isNaN && right.isNaN)
        case (.boolean(let left), .boolean(let right)): left == right
        case (.datetime(let left), .datetime(let right)): left == right
        case (.array(let left), .array(let right)): left == right
        case (.table(let left), .table(let right)): left == right
        default: false
        }
    }
}
