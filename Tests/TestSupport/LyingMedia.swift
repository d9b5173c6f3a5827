import Foundation

/// Media whose headers lie about themselves, made from the committed fixtures by rewriting a few header fields: the
/// inputs that once decoded into hours of noise and provider requests.
package enum LyingMedia {
    /// One lying file: what it claims and a phrase its refusal must contain.
    package struct Variant: Sendable {
        /// A short name (also the file's name without extension).
        package var name: String
        /// The file.
        package var file: URL
        /// What the refusal says.
        package var reason: String
    }

    /// The variants of `speech.wav` and `speech.m4a` (in `fixtures`), written into `directory`: sample rates of 0,
    /// 1, 7 and 2^31 − 1 Hz, 65,535 channels, and a duration of 136 years.
    package static func variants(fixtures: URL, into directory: URL) throws -> [Variant] {
        let wav = try Data(contentsOf: fixtures.appendingPathComponent("speech.wav"))
        let m4a = try Data(contentsOf: fixtures.appendingPathComponent("speech.m4a"))
        var variants: [Variant] = []
        func write(_ name: String, _ base: Data, ext: String, reason: String, _ edits: [(Int, [UInt8])]) throws {
            var data = base
            for (offset, bytes) in edits {
                data.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
            }
            let file = directory.appendingPathComponent("\(name).\(ext)")
            try data.write(to: file)
            variants.append(Variant(name: name, file: file, reason: reason))
        }
        // WAV `fmt `: channels at 22 (16 bits), sample rate at 24 and byte rate at 28 (32 bits), little-endian.
        func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        try write("rate-1", wav, ext: "wav", reason: "sample rate of 1 Hz", [(24, le32(1)), (28, le32(2))])
        try write("rate-0", wav, ext: "wav", reason: "not a media file", [(24, le32(0)), (28, le32(0))])
        try write("rate-7", wav, ext: "wav", reason: "sample rate of 7 Hz", [(24, le32(7)), (28, le32(14))])
        try write(
            "rate-max", wav, ext: "wav", reason: "sample rate of 2147483647 Hz",
            [(24, le32(0x7FFF_FFFF)), (28, le32(0xFFFF_FFFE))])
        try write(
            "channels-65535", wav, ext: "wav", reason: "65535 channels",
            [(22, [0xFF, 0xFF]), (28, le32(16_000 &* 2 &* 65_535)), (32, [0xFE, 0xFF])])
        // MP4 `mvhd` and `mdhd`: time scale and duration (32 bits each, big-endian) 12 bytes after the version.
        func be32(_ value: UInt32) -> [UInt8] {
            (0..<4).reversed().map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        }
        var edits: [(Int, [UInt8])] = []
        for tag in ["mvhd", "mdhd"] {
            guard let at = m4a.range(of: Data(tag.utf8))?.lowerBound else { continue }
            // All ones would mean "unknown"; one less is 136 years at one tick a second.
            edits.append((at + 16, be32(1) + be32(0xFFFF_FFF0)))
        }
        try write("years", m4a, ext: "m4a", reason: "declares 4294967280 s of audio", edits)
        return variants
    }
}
