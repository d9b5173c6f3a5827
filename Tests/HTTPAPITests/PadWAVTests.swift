import Foundation
import HTTPAPI
import Testing

struct PadWAVTests {
    /// A PCM16 mono WAV of `samples` samples at 24 kHz, with a LIST chunk before `data` as FFmpeg writes one.
    private func wav(samples: Int) -> Data {
        func le(_ value: Int, _ bytes: Int) -> [UInt8] {
            (0..<bytes).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) }
        }
        let list = Array("LIST".utf8) + le(4, 4) + Array("INFO".utf8)
        let fmt =
            Array("fmt ".utf8) + le(16, 4) + le(1, 2) + le(1, 2) + le(24_000, 4) + le(48_000, 4) + le(2, 2)
            + le(16, 2)
        let body =
            Array("WAVE".utf8) + fmt + list + Array("data".utf8) + le(samples * 2, 4)
            + [UInt8](repeating: 7, count: samples * 2)
        return Data(Array("RIFF".utf8) + le(body.count, 4) + body)
    }

    @Test
    func aShortReplyIsPaddedWithSilenceAndItsSizesFixed() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pad-\(UUID()).wav")
        defer { try? FileManager.default.removeItem(at: file) }
        let original = self.wav(samples: 2_400)  // 0.1 s
        try original.write(to: file)

        try AudioAPI.padWAV(file, toSeconds: 0.6)

        let padded = try Data(contentsOf: file)
        func le32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(padded[at + $1]) << (8 * $1) } }
        let dataAt = padded.range(of: Data("data".utf8))!.lowerBound
        #expect(le32(4) == padded.count - 8, "RIFF size")
        #expect(le32(dataAt + 4) == 28_800, "0.6 s of 16-bit mono at 24 kHz")
        #expect(padded.count == dataAt + 8 + 28_800)
        #expect(
            padded.prefix(original.count).dropFirst(8).prefix(dataAt - 8) == original.dropFirst(8).prefix(dataAt - 8))
        #expect(padded.suffix(100).allSatisfy { $0 == 0 }, "silence")
        // Long enough already: untouched.
        let long = self.wav(samples: 24_000)
        try long.write(to: file)
        try AudioAPI.padWAV(file, toSeconds: 0.6)
        #expect(try Data(contentsOf: file) == long)
    }
}
