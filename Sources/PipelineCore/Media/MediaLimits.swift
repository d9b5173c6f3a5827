/// Bounds applied to untrusted media before and while it is decoded.
package struct MediaLimits: Sendable, Equatable {
    /// The largest input file accepted, in bytes; nil for no limit.
    package var maxInputBytes: Int64?
    /// The longest decoded audio accepted, in seconds; nil for no limit.
    package var maxDecodedSeconds: Double?
    /// How many bytes the demuxer may read to detect the format.
    package var probeBytes: Int64
    /// How much media time the demuxer may analyse to find stream parameters, in seconds.
    package var analyzeSeconds: Double
    /// How many corrupt packets in a row are skipped before decoding gives up.
    package var maxConsecutiveCorruptPackets: Int

    /// Creates limits; the defaults suit speech archives (4 GiB, 12 hours).
    package init(
        maxInputBytes: Int64? = 4 << 30,
        maxDecodedSeconds: Double? = 12 * 3600,
        probeBytes: Int64 = 5_000_000,
        analyzeSeconds: Double = 10,
        maxConsecutiveCorruptPackets: Int = 64
    ) {
        self.maxInputBytes = maxInputBytes
        self.maxDecodedSeconds = maxDecodedSeconds
        self.probeBytes = probeBytes
        self.analyzeSeconds = analyzeSeconds
        self.maxConsecutiveCorruptPackets = maxConsecutiveCorruptPackets
    }
}
