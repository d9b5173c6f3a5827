/// Why a media file could not be read or written.
///
/// The `kind` is stable and machine-readable; `reason` is FFmpeg's message (from `av_strerror`) or ours.
package struct MediaError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stable categories of media failure.
    package enum Kind: String, Sendable, Codable {
        case fileNotFound = "file_not_found"
        case notMedia = "not_media"
        case noAudioStream = "no_audio_stream"
        case unsupportedCodec = "unsupported_codec"
        case limitExceeded = "limit_exceeded"
        case corruptData = "corrupt_data"
        case ioError = "io_error"
        case invalidArgument = "invalid_argument"
    }

    /// What went wrong, as a stable category.
    package var kind: Kind
    /// The file or stream being read or written.
    package var input: String
    /// The human-readable cause.
    package var reason: String
    /// The C function that failed, when one did.
    package var function: String?
    /// FFmpeg's negative error code, when there was one.
    package var code: Int32?

    /// Creates an error.
    package init(_ kind: Kind, input: String, reason: String, function: String? = nil, code: Int32? = nil) {
        self.kind = kind
        self.input = input
        self.reason = reason
        self.function = function
        self.code = code
    }

    /// Whether retrying the same input can ever succeed: only I/O trouble may be transient.
    package var isPermanent: Bool { self.kind != .ioError }

    package var description: String {
        var text = "\(self.input): \(self.reason)"
        if let function = self.function {
            text += " (\(function))"
        }
        return text
    }
}
