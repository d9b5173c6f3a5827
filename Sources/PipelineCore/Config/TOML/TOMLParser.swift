/// Parses TOML 1.0 documents into tables.
///
/// Choices the specification leaves to the parser: integers must fit in `Int64` (otherwise an error), CRLF inside
/// multi-line strings becomes LF, a second of 60 is accepted for leap seconds, date-times are validated but kept
/// as text (see `TOMLValue.datetime`), and arrays and inline tables may nest at most 128 deep.
package enum TOMLParser {
    /// Parses a whole TOML 1.0 document.
    ///
    /// - Parameters:
    ///   - text: The document; a leading byte order mark is ignored.
    ///   - file: The name used in locations and errors, usually the file's path.
    /// - Returns: The root table, with keys in document order and where each was defined.
    /// - Throws: The first syntax or redefinition error, at the offending character.
    package static func parse(_ text: String, file: String) throws(TOMLError) -> TOMLTable {
        var reader = TOMLReader(text: text, file: file)
        return try reader.readDocument()
    }
}
