import Foundation

/// Writes mono Float32 audio into audio files.
package protocol AudioEncoding: Sendable {
    /// Encodes `samples` (at `sampleRate`) into one complete file in memory, resampled to `outputRate`.
    func encode(_ samples: [Float], sampleRate: Int, as format: AudioFileFormat, outputRate: Int) async throws
        -> Data

    /// Encodes `blocks` (at `sampleRate`) into `file`, resampled to `outputRate`, and returns the output's facts.
    ///
    /// The file appears complete or not at all: it is written beside `file` under a temporary name and renamed
    /// at the end. Memory stays at one block.
    func encode(
        _ blocks: some AsyncSequence<AudioBlock, any Error>, sampleRate: Int, to file: URL,
        as format: AudioFileFormat, outputRate: Int
    ) async throws -> EncodedFile
}

/// What an encode wrote.
package struct EncodedFile: Sendable, Equatable {
    /// The rate the file holds, in Hz; the requested one unless the codec cannot carry it (Opus: 48 kHz).
    package var sampleRate: Int
    /// Input samples written, at the input rate.
    package var inputSamples: Int
    /// The size of the file, in bytes.
    package var bytes: Int64

    /// Creates a value.
    package init(sampleRate: Int, inputSamples: Int, bytes: Int64) {
        self.sampleRate = sampleRate
        self.inputSamples = inputSamples
        self.bytes = bytes
    }
}
