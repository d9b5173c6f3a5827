import Foundation
import PipelineCore

/// Renders a finished transcription in each requested format.
enum TranscriptFiles {
    /// The bytes of each format, from the document and the transcript it came from.
    static func render(
        _ document: TranscriptDocument, transcript: Transcript, formats: [TranscriptFormat]
    ) throws -> [(TranscriptFormat, Data)] {
        let writer = SubtitleWriter()
        return try formats.map { format in
            switch format {
            case .json: (format, try JSONOutput.encode(document, pretty: true))
            case .srt: (format, Data(writer.srt(transcript).utf8))
            case .vtt: (format, Data(writer.vtt(transcript).utf8))
            case .txt: (format, Data(writer.txt(transcript).utf8))
            }
        }
    }

    /// Writes `data` to `url` atomically (a temporary file in the same directory, then rename).
    static func writeAtomically(_ data: Data, to url: URL) throws {
        let temporary = url.deletingLastPathComponent().appendingPathComponent(
            ".\(url.lastPathComponent).partial-\(UUID())")
        try data.write(to: temporary)
        guard rename(temporary.path, url.path) == 0 else {
            try? FileManager.default.removeItem(at: temporary)
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: url.path])
        }
    }
}
