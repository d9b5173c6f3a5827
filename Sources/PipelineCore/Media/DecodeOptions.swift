/// How to decode a media file into mono Float32 blocks.
package struct DecodeOptions: Sendable, Equatable {
    /// The output rate, in Hz.
    package var sampleRate: Int
    /// The preferred number of samples per block; blocks may be a little longer or, at the end, shorter.
    package var blockSamples: Int
    /// Bounds on the input.
    package var limits: MediaLimits

    /// Creates options; the defaults give 16 kHz in blocks of two seconds.
    package init(sampleRate: Int = 16_000, blockSamples: Int? = nil, limits: MediaLimits = MediaLimits()) {
        self.sampleRate = sampleRate
        self.blockSamples = blockSamples ?? sampleRate * 2
        self.limits = limits
    }
}
