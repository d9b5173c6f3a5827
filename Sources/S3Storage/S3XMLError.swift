/// A reply from S3 that is not the XML it should be.
struct S3XMLError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong with it.
    var reason: String

    var description: String { self.reason }
}
