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
    /// The sample rates an audio stream may declare, in Hz: below 4 kHz no speech fits (telephone audio is 8 kHz),
    /// above 768 kHz no recorder writes. A header outside is a lie that would decode into hours of noise.
    package var sampleRates: ClosedRange<Int>
    /// The most channels an audio stream may declare (third-order ambisonics has 16).
    package var maxChannels: Int
    /// The most streams a container may declare.
    package var maxStreams: Int

    /// Creates limits; the defaults suit speech archives (4 GiB, 12 hours).
    package init(
        maxInputBytes: Int64? = 4 << 30,
        maxDecodedSeconds: Double? = 12 * 3600,
        probeBytes: Int64 = 5_000_000,
        analyzeSeconds: Double = 10,
        maxConsecutiveCorruptPackets: Int = 64, sampleRates: ClosedRange<Int> = 4000...768_000,
        maxChannels: Int = 64, maxStreams: Int = 256
    ) {
        self.maxInputBytes = maxInputBytes
        self.maxDecodedSeconds = maxDecodedSeconds
        self.probeBytes = probeBytes
        self.analyzeSeconds = analyzeSeconds
        self.maxConsecutiveCorruptPackets = maxConsecutiveCorruptPackets
        self.sampleRates = sampleRates
        self.maxChannels = maxChannels
        self.maxStreams = maxStreams
    }

    /// These limits, lowered to `seconds` of decoded audio when that is less (a request's own limit).
    package func lowered(toSeconds seconds: Double?) -> MediaLimits {
        guard let seconds else { return self }
        var limits = self
        limits.maxDecodedSeconds = min(seconds, self.maxDecodedSeconds ?? seconds)
        return limits
    }
}
