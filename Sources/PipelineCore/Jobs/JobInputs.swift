import Foundation

/// How command-line inputs become job inputs and where their outputs go, so every way in (enqueue, batch)
/// names things the same deterministic way.
package enum JobInputs {
    /// The storage key a local file is copied to: `inputs/HASH/NAME`, where HASH depends on the absolute path.
    package static func storageKey(forLocalFile file: URL) -> String {
        let path = file.standardizedFileURL.path
        return "inputs/\(StableHash.hex([path]).prefix(12))/\(Self.safeName(file.lastPathComponent))"
    }

    /// The default output prefix for an input key: `PREFIX` + `KEY` (`transcripts/KEY` by default), so outputs are
    /// `transcripts/KEY.json`, ....
    ///
    /// The input's extension stays in the name: `talk.mp3` and `talk.wav` side by side must not share outputs.
    package static func outputPrefix(forKey key: String, under prefix: String = "transcripts/") -> String {
        prefix + key
    }

    /// The default output key of a synthesis: `PREFIX` + `HASH.EXT` (`speech/HASH.EXT` by default), from everything
    /// that shapes the audio.
    package static func speechKey(
        text: String, voice: String?, format: String, sampleRate: Int?, function: String?,
        under prefix: String = "speech/"
    ) -> String {
        let hash = StableHash.hex([text, voice ?? "", format, sampleRate.map(String.init) ?? "", function ?? ""])
        return "\(prefix)\(hash).\(AudioFileFormat(fileExtension: format)?.fileExtension ?? format)"
    }

    /// A file name safe as a key segment: control characters and slashes replaced, never `.` or `..`.
    private static func safeName(_ name: String) -> String {
        let cleaned = String(
            name.unicodeScalars.map { $0.value < 0x20 || $0 == "/" || $0 == "\\" ? "_" : Character($0) })
        return cleaned == "." || cleaned == ".." || cleaned.isEmpty ? "input" : cleaned
    }
}
