import PipelineCore

extension AudioFileFormat {
    /// The libavformat muxer that writes this format.
    var muxerName: String {
        switch self {
        case .wav: "wav"
        case .flac: "flac"
        case .mp3: "mp3"
        case .opus: "ogg"
        case .m4a: "ipod"
        case .pcm: "s16le"
        }
    }

    /// The libavcodec encoder for this format.
    var encoderName: String {
        switch self {
        case .wav, .pcm: "pcm_s16le"
        case .flac: "flac"
        case .mp3: "libmp3lame"
        case .opus: "libopus"
        case .m4a: "aac"
        }
    }

    /// The bit rate for lossy formats, chosen for mono speech.
    var bitRate: Int64? {
        switch self {
        case .mp3, .m4a: 64_000
        case .opus: 32_000
        case .wav, .pcm, .flac: nil
        }
    }
}
