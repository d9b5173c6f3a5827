import Foundation

/// A value bound to a statement parameter.
enum SQLiteValue {
    case integer(Int64)
    case text(String)
    case blob(Data)
    case null

    /// Text, or NULL when `text` is nil.
    static func optionalText(_ text: String?) -> SQLiteValue { text.map { .text($0) } ?? .null }

    /// An integer, or NULL when `value` is nil.
    static func optionalInteger(_ value: Int?) -> SQLiteValue { value.map { .integer(Int64($0)) } ?? .null }
}
