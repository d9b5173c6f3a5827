/// Where something is in a TOML source: 1-based line and column (column counts Unicode scalars).
package struct TOMLLocation: Equatable, Sendable, CustomStringConvertible {
    /// The name of the source, as passed to `TOMLParser.parse(_:file:)`.
    package var file: String
    /// The 1-based line number.
    package var line: Int
    /// The 1-based column, counted in Unicode scalars from the start of the line.
    package var column: Int

    /// Creates a location from a source name, a line and a column.
    package init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    /// The location as `file:line:column`.
    package var description: String {
        "\(self.file):\(self.line):\(self.column)"
    }
}
