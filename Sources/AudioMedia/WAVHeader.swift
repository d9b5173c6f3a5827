import Foundation

/// The 44-byte RIFF/WAVE header of mono 16-bit PCM.
enum WAVHeader {
    /// A header for a stream of unknown length: the RIFF and data sizes at their largest (`0xFFFFFFFF`), which
    /// players and decoders read as "until the end of the stream".
    static func streaming(sampleRate: Int) -> Data {
        var header = Data()
        func append(_ text: String) { header.append(contentsOf: Array(text.utf8)) }
        func append32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { header.append(contentsOf: $0) } }
        func append16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { header.append(contentsOf: $0) } }
        append("RIFF")
        append32(0xFFFF_FFFF)
        append("WAVE")
        append("fmt ")
        append32(16)
        append16(1)  // PCM
        append16(1)  // mono
        append32(UInt32(sampleRate))
        append32(UInt32(sampleRate * 2))  // bytes per second
        append16(2)  // block align
        append16(16)  // bits per sample
        append("data")
        append32(0xFFFF_FFFF)
        return header
    }
}
