import Foundation

/// Renders transcripts as SRT, WebVTT and plain text.
package struct SubtitleWriter: Sendable {
    /// The longest subtitle line, in characters; longer text wraps at spaces.
    package var lineLength: Int

    /// Creates a writer.
    package init(lineLength: Int = 42) {
        self.lineLength = lineLength
    }

    /// SubRip: numbered cues with `HH:MM:SS,mmm` times.
    package func srt(_ transcript: Transcript) -> String {
        var text = ""
        for (number, segment) in self.cues(transcript).enumerated() {
            text += "\(number + 1)\n\(Self.time(segment.start, ",")) --> \(Self.time(segment.end, ","))\n"
            text += self.wrap(segment.text) + "\n\n"
        }
        return text
    }

    /// WebVTT: a header, then cues with `HH:MM:SS.mmm` times.
    package func vtt(_ transcript: Transcript) -> String {
        var text = "WEBVTT\n\n"
        for segment in self.cues(transcript) {
            text += "\(Self.time(segment.start, ".")) --> \(Self.time(segment.end, "."))\n"
            // "-->" inside cue text would end the cue early.
            text += self.wrap(segment.text.replacingArrows) + "\n\n"
        }
        return text
    }

    /// The text, segments joined with single spaces, with a final newline.
    package func txt(_ transcript: Transcript) -> String {
        transcript.text.isEmpty ? "" : transcript.text + "\n"
    }

    private func cues(_ transcript: Transcript) -> [TranscriptSegment] {
        transcript.segments.filter { !$0.text.isEmpty }
    }

    /// Wraps at spaces so no line is longer than `lineLength` (a longer word keeps its own line).
    private func wrap(_ text: String) -> String {
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ") {
            if line.isEmpty {
                line = String(word)
            } else if line.count + 1 + word.count <= self.lineLength {
                line += " " + word
            } else {
                lines.append(line)
                line = String(word)
            }
        }
        if !line.isEmpty {
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }

    /// `HH:MM:SS<separator>mmm`, rounded to the millisecond.
    private static func time(_ seconds: Double, _ separator: String) -> String {
        let milliseconds = Int((max(seconds, 0) * 1000).rounded())
        let hours = milliseconds / 3_600_000
        let minutes = milliseconds / 60_000 % 60
        let secs = milliseconds / 1000 % 60
        return
            "\(Self.pad(hours, 2)):\(Self.pad(minutes, 2)):\(Self.pad(secs, 2))\(separator)\(Self.pad(milliseconds % 1000, 3))"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(width - digits.count, 0)) + digits
    }
}

extension String {
    fileprivate var replacingArrows: String {
        var result = ""
        var rest = Substring(self)
        while let range = rest.range(of: "-->") {
            result += rest[..<range.lowerBound] + "->"
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}
