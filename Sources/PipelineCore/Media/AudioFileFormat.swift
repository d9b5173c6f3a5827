/// A container and codec pair the encoder can write.
package enum AudioFileFormat: String, Sendable, Codable, CaseIterable {
    /// 16-bit PCM in a RIFF/WAVE container.
    case wav
    /// FLAC, 16-bit.
    case flac
    /// MPEG-1/2 Layer III through LAME.
    case mp3
    /// Opus in an Ogg container.
    case opus
    /// AAC in an MP4 (`.m4a`) container.
    case m4a
    /// Headerless signed 16-bit little-endian samples.
    case pcm

    /// The format a file name's extension asks for (`.ogg` is Opus in Ogg), or nil when none matches.
    package init?(fileExtension: String) {
        switch fileExtension.lowercased() {
        case "wav", "wave": self = .wav
        case "flac": self = .flac
        case "mp3": self = .mp3
        case "opus", "ogg", "oga": self = .opus
        case "m4a", "mp4", "aac": self = .m4a
        case "pcm", "raw", "s16le": self = .pcm
        default: return nil
        }
    }

    /// The usual file extension, without the dot.
    package var fileExtension: String {
        switch self {
        case .wav: "wav"
        case .flac: "flac"
        case .mp3: "mp3"
        case .opus: "opus"
        case .m4a: "m4a"
        case .pcm: "pcm"
        }
    }

    /// The MIME type to label the bytes with, for uploads and HTTP replies.
    package var mimeType: String {
        switch self {
        case .wav: "audio/wav"
        case .flac: "audio/flac"
        case .mp3: "audio/mpeg"
        case .opus: "audio/ogg"
        case .m4a: "audio/mp4"
        case .pcm: "audio/pcm"
        }
    }
}
