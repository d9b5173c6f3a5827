/// A TOML syntax or semantic error, with the location of the offending character.
package struct TOMLError: Error, Equatable, Sendable, CustomStringConvertible {
    /// Where the offending character is.
    package var location: TOMLLocation
    /// What is wrong, without the location (for example `duplicate key 'a'`).
    package var message: String

    /// Creates an error at a location.
    package init(location: TOMLLocation, message: String) {
        self.location = location
        self.message = message
    }

    /// The error as `file:line:column: message`.
    package var description: String {
        "\(self.location): \(self.message)"
    }
}
