/// A transcript file format.
package enum TranscriptFormat: String, Sendable, Codable, CaseIterable {
    /// The JSON document (a superset of ffmpeg-whisper's response).
    case json
    /// SubRip subtitles.
    case srt
    /// WebVTT subtitles.
    case vtt
    /// Plain text.
    case txt

    /// The MIME type for stored files.
    package var mimeType: String {
        switch self {
        case .json: "application/json"
        case .srt: "application/x-subrip"
        case .vtt: "text/vtt"
        case .txt: "text/plain; charset=utf-8"
        }
    }

    /// Parses a comma-separated list (`json,srt`), rejecting unknown names.
    package static func parseList(_ text: String) throws(UsageError) -> [TranscriptFormat] {
        var formats: [TranscriptFormat] = []
        for name in text.split(separator: ",").map({ String($0).trimmingWhitespace.lowercased() }) where !name.isEmpty {
            guard let format = TranscriptFormat(rawValue: name) else {
                throw UsageError("unknown format '\(name)'; use json, srt, vtt or txt")
            }
            if !formats.contains(format) {
                formats.append(format)
            }
        }
        guard !formats.isEmpty else { throw UsageError("no output format given") }
        return formats
    }
}
