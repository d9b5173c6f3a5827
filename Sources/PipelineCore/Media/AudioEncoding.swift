import Foundation

/// Writes mono Float32 audio into audio files.
package protocol AudioEncoding: Sendable {
    /// Encodes `samples` (at `sampleRate`) into one complete file in memory, resampled to `outputRate`.
    func encode(_ samples: [Float], sampleRate: Int, as format: AudioFileFormat, outputRate: Int) async throws
        -> Data

    /// Opens `file` for writing samples (at `sampleRate`) pushed one batch at a time, resampled to `outputRate`.
    ///
    /// The file appears complete or not at all: it is written beside `file` under a temporary name and renamed
    /// by ``AudioWriter/finish()``; ``AudioWriter/abandon()`` removes it.
    func openWriter(to file: URL, sampleRate: Int, as format: AudioFileFormat, outputRate: Int) async throws
        -> AudioWriter

    /// Opens a stream that encodes samples (at `sampleRate`) as they are pushed and hands back the bytes ready so
    /// far, for sending while encoding: WAV with an open-ended header, raw PCM, MP3, Ogg/Opus, FLAC, and for `m4a`
    /// AAC in ADTS frames (an MP4 index needs the whole file).
    func openStream(sampleRate: Int, as format: AudioFileFormat, outputRate: Int) async throws -> AudioStreamWriter
}

/// An encode whose bytes are handed over as they are produced.
package struct AudioStreamWriter: Sendable {
    private let writeSamples: @Sendable ([Float]) async throws -> Data
    private let finishStream: @Sendable () async throws -> Data

    /// Creates a stream from its operations.
    package init(
        write: @escaping @Sendable ([Float]) async throws -> Data, finish: @escaping @Sendable () async throws -> Data
    ) {
        self.writeSamples = write
        self.finishStream = finish
    }

    /// Encodes `samples` and returns the bytes ready to send (possibly none yet).
    package func write(_ samples: [Float]) async throws -> Data { try await self.writeSamples(samples) }

    /// Flushes the encoder and returns the last bytes.
    package func finish() async throws -> Data { try await self.finishStream() }
}

extension AudioEncoding {
    /// Encodes `blocks` (at `sampleRate`) into `file`, resampled to `outputRate`; memory stays at one block.
    package func encode(
        _ blocks: some AsyncSequence<AudioBlock, any Error>, sampleRate: Int, to file: URL,
        as format: AudioFileFormat, outputRate: Int
    ) async throws -> EncodedFile {
        let writer = try await self.openWriter(to: file, sampleRate: sampleRate, as: format, outputRate: outputRate)
        do {
            for try await block in blocks {
                try await writer.write(block.samples)
            }
            return try await writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
    }
}

/// An audio file being written: push samples, then finish (or abandon).
package struct AudioWriter: Sendable {
    private let writeSamples: @Sendable ([Float]) async throws -> Void
    private let finishFile: @Sendable () async throws -> EncodedFile
    private let abandonFile: @Sendable () -> Void

    /// Creates a writer from its operations.
    package init(
        write: @escaping @Sendable ([Float]) async throws -> Void,
        finish: @escaping @Sendable () async throws -> EncodedFile, abandon: @escaping @Sendable () -> Void
    ) {
        self.writeSamples = write
        self.finishFile = finish
        self.abandonFile = abandon
    }

    /// Encodes `samples`.
    package func write(_ samples: [Float]) async throws { try await self.writeSamples(samples) }

    /// Completes the file and moves it into place.
    package func finish() async throws -> EncodedFile { try await self.finishFile() }

    /// Removes the unfinished file.
    package func abandon() { self.abandonFile() }
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
