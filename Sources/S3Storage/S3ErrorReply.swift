import Foundation

/// The `<Error>` document S3 answers a failed request with: its code (`NoSuchKey`, `SignatureDoesNotMatch`) and
/// message, cleaned for messages (no control characters, at most ``maxMessageLength`` characters).
struct S3ErrorReply: Sendable, Equatable {
    static let maxMessageLength = 300

    /// S3's error code, such as `AccessDenied`.
    var code: String
    /// S3's explanation.
    var message: String

    /// The error in `body`, or nil when `body` is not an S3 error document.
    static func parse(_ body: Data) -> S3ErrorReply? {
        guard !body.isEmpty, let root = try? S3XMLElement.parse(body), root.name == "Error" else { return nil }
        return self.init(element: root)
    }

    /// The error an `<Error>` element holds.
    init(element: S3XMLElement) {
        self.code = Self.clean(element.text(of: "Code") ?? "", limit: 64)
        self.message = Self.clean(element.text(of: "Message") ?? "", limit: Self.maxMessageLength)
    }

    /// `Code: message`, or whichever of the two there is.
    var summary: String {
        switch (self.code.isEmpty, self.message.isEmpty) {
        case (false, false): "\(self.code): \(self.message)"
        case (false, true): self.code
        case (true, false): self.message
        case (true, true): "no details"
        }
    }

    /// `text` with control characters and runs of whitespace made single spaces, cut to `limit` characters.
    private static func clean(_ text: String, limit: Int) -> String {
        let words = text.unicodeScalars.split { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }
        let joined = words.map { String(String.UnicodeScalarView($0)) }.joined(separator: " ")
        return joined.count > limit ? String(joined.prefix(limit)) + "…" : joined
    }
}
