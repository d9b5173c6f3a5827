/// A configuration problem, located in its file when it comes from one.
package struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file it concerns.
    package var file: String
    /// Where in the file, when known.
    package var location: TOMLLocation?
    /// What is wrong.
    package var message: String

    /// Creates an error.
    package init(file: String, location: TOMLLocation? = nil, message: String) {
        self.file = file
        self.location = location
        self.message = message
    }

    /// A TOML syntax error, as a configuration error.
    package init(_ error: TOMLError) {
        self.init(file: error.location.file, location: error.location, message: error.message)
    }

    /// `file:line:column: message`, or `file: message` without a location.
    package var description: String {
        if let location = self.location {
            return "\(location): \(self.message)"
        }
        return "\(self.file): \(self.message)"
    }
}
