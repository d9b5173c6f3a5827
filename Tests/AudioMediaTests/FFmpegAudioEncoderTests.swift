import AudioMedia
import Foundation
import PipelineCore
import Testing

struct FFmpegAudioEncoderTests {
    let encoder = FFmpegAudioEncoder()
    let decoder = FFmpegAudioDecoder()

    /// Three seconds of a 440 Hz tone at 16 kHz with a silent second in the middle.
    static let signal: [Float] = (0..<48_000).map { index in
        (16_000..<32_000).contains(index) ? 0 : Float(sin(Double(index) * 2 * .pi * 440 / 16_000) * 0.5)
    }

    /// The duration of one codec frame, in seconds, at the rate each format is written.
    static let frameSeconds: [AudioFileFormat: Double] = [
        .wav: 0.001, .pcm: 0.001, .flac: 4608.0 / 16_000, .mp3: 1152.0 / 16_000, .m4a: 1024.0 / 16_000,
        .opus: 960.0 / 48_000,
    ]

    private func decodedSeconds(of file: URL, rate: Int = 16_000) async throws -> Double {
        let audio = try await self.decoder.open(file, options: DecodeOptions(sampleRate: rate))
        var count = 0
        for try await block in audio.blocks {
            count += block.samples.count
        }
        return Double(count) / Double(rate)
    }

    @Test(arguments: AudioFileFormat.allCases.filter { $0 != .pcm })
    func roundTripKeepsTheDurationWithinOneCodecFrame(format: AudioFileFormat) async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("tone.\(format.fileExtension)")

        let data = try await self.encoder.encode(Self.signal, sampleRate: 16_000, as: format, outputRate: 16_000)
        try data.write(to: file)
        let seconds = try await self.decodedSeconds(of: file)

        let tolerance = Self.frameSeconds[format]!
        #expect(abs(seconds - 3.0) <= tolerance, "\(format): decoded \(seconds) s of 3 s")
    }

    @Test
    func rawPCMIsSixteenBitLittleEndianAtTheChosenRate() async throws {
        let data = try await self.encoder.encode(Self.signal, sampleRate: 16_000, as: .pcm, outputRate: 24_000)

        #expect(abs(data.count - 3 * 24_000 * 2) <= 64)
        let samples = data.withUnsafeBytes { Array($0.bindMemory(to: Int16.self)) }
        let peak = samples.map { abs(Int($0)) }.max() ?? 0
        #expect(abs(peak - 16_384) < 400, "a 0.5 amplitude tone peaks near half of full scale, got \(peak)")
    }

    @Test
    func opusAtAnUnsupportedRateIsWrittenAt48kHz() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("tone.opus")
        let blocks = AsyncThrowingStream<AudioBlock, any Error> { continuation in
            continuation.yield(AudioBlock(samples: Self.signal, startSample: 0, sampleRate: 16_000))
            continuation.finish()
        }

        let encoded = try await self.encoder.encode(
            blocks, sampleRate: 16_000, to: file, as: .opus, outputRate: 44_100)

        #expect(encoded.sampleRate == 48_000)
        #expect(encoded.inputSamples == Self.signal.count)
        let info = try await self.decoder.probe(file, limits: MediaLimits())
        #expect(info.streams.first?.codec == "opus")
    }

    @Test
    func streamingToAFileWritesItAtomically() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("out.flac")
        struct Interrupted: Error {}
        let failing = AsyncThrowingStream<AudioBlock, any Error> { continuation in
            continuation.yield(AudioBlock(samples: Self.signal, startSample: 0, sampleRate: 16_000))
            continuation.finish(throwing: Interrupted())
        }

        await #expect(throws: Interrupted.self) {
            _ = try await self.encoder.encode(failing, sampleRate: 16_000, to: file, as: .flac, outputRate: 16_000)
        }

        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(leftovers.isEmpty, "no partial or temporary file is left: \(leftovers)")
    }

    @Test
    func writingIntoAMissingDirectoryIsAnIOError() async throws {
        let blocks = AsyncThrowingStream<AudioBlock, any Error> { $0.finish() }
        let file = URL(fileURLWithPath: "/nonexistent-directory-\(UUID())/out.wav")

        let error = await #expect(throws: MediaError.self) {
            _ = try await self.encoder.encode(blocks, sampleRate: 16_000, to: file, as: .wav, outputRate: 16_000)
        }

        #expect(error?.kind == .ioError)
    }

    @Test
    func anEmptyInputGivesAValidEmptyFile() async throws {
        let data = try await self.encoder.encode([], sampleRate: 16_000, as: .wav, outputRate: 16_000)

        #expect(data.count == 44 || data.count == 78, "a bare WAV header, got \(data.count) bytes")
    }
}
