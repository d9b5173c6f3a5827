/// Why a synthesis could not be done.
package enum SpeechError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The text is empty after normalization.
    case emptyText
    /// The text is longer than the configured limit.
    case textTooLong(characters: Int, limit: Int)
    /// A piece failed with every provider.
    case pieceFailed(index: Int, text: String, cause: GatewayError)

    /// Whether retrying cannot help.
    package var isPermanent: Bool {
        switch self {
        case .emptyText, .textTooLong: true
        case .pieceFailed(_, _, let cause): cause.isPermanent
        }
    }

    package var description: String {
        switch self {
        case .emptyText:
            "the text is empty"
        case .textTooLong(let characters, let limit):
            "the text has \(characters) characters, more than the limit of \(limit)"
        case .pieceFailed(let index, let text, let cause):
            "piece \(index) (\"\(text.prefix(40))\(text.count > 40 ? "…" : "")\") failed: \(cause)"
        }
    }
}
