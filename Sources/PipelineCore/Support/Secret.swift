/// A credential (an API key, a secret access key) that never shows itself.
///
/// Its `description`, debug description and reflection all print `<redacted>`, so a key that reaches a log line,
/// an error message, `config check` or a failing test's output is harmless. It is deliberately not `Codable`.
/// ``reveal()`` is the one way to the value, named so that every use stands out where the key is put on the wire.
package struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    /// Wraps `value`.
    package init(_ value: String) {
        self.value = value
    }

    /// The value, for the one place that sends it.
    package func reveal() -> String { self.value }

    /// Whether `candidate` equals the secret, in time that does not depend on where they differ.
    package func matches(_ candidate: String) -> Bool {
        let expected = Array(self.value.utf8)
        let given = Array(candidate.utf8)
        var difference = UInt8(expected.count == given.count ? 0 : 1)
        for index in 0..<max(expected.count, given.count) {
            let left = index < expected.count ? expected[index] : 0
            let right = index < given.count ? given[index] : 0
            difference |= left ^ right
        }
        return difference == 0
    }

    package var description: String { "<redacted>" }

    package var debugDescription: String { "<redacted>" }

    package var customMirror: Mirror { Mirror(self, children: [:]) }
}
