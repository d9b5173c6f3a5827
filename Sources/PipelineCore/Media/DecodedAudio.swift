/// An opened media file, ready to be read as mono Float32 blocks.
///
/// `blocks` pulls: each block is decoded only when the consumer asks for it, so memory stays at one block
/// however long the input. Iterate it once. Cancelling the iterating task stops decoding within a block.
package struct DecodedAudio: Sendable {
    /// The stream being decoded.
    package let source: SourceInfo
    /// The rate of every block, in Hz.
    package let sampleRate: Int
    /// The decoded audio, in order, ending after the last sample; a decode error or cancellation is thrown from it.
    package let blocks: AudioBlockSequence
    private let currentSummary: @Sendable () -> DecodeSummary

    /// Creates the value from a producer; `next` returns nil at the end.
    package init(
        source: SourceInfo,
        sampleRate: Int,
        next: @escaping @Sendable () async throws -> AudioBlock?,
        summary: @escaping @Sendable () -> DecodeSummary
    ) {
        self.source = source
        self.sampleRate = sampleRate
        self.blocks = AudioBlockSequence(next: next)
        self.currentSummary = summary
    }

    /// What has been decoded and skipped so far; final once `blocks` has ended.
    package var summary: DecodeSummary { self.currentSummary() }
}
