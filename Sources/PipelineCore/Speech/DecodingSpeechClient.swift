import Foundation

/// Wraps a provider's speech client so its reply is decoded to mono Float32 at one rate before it counts as a
/// success: a reply that is not decodable audio is a provider failure, and the chain moves on.
package struct DecodingSpeechClient: TextToSpeech {
    private let base: any TextToSpeech
    private let decoder: any AudioDecoding
    private let sampleRate: Int

    /// Wraps `base`, decoding its replies with `decoder` at `sampleRate`.
    package init(_ base: any TextToSpeech, decoder: any AudioDecoding, sampleRate: Int) {
        self.base = base
        self.decoder = decoder
        self.sampleRate = sampleRate
    }

    package func synthesize(_ request: SpeechRequest) async throws -> SpeechResult {
        var result = try await self.base.synthesize(request)
        do {
            result.samples = try await self.decode(result, characters: request.text.count)
            result.sampleRate = self.sampleRate
        } catch let error as MediaError {
            var failure = ProviderFailure(
                .malformedResponse, message: "the reply is not audio FFmpeg can decode (\(error.reason))")
            failure.bytesSent = result.bytesSent
            throw failure
        }
        guard let samples = result.samples, !samples.isEmpty else {
            var failure = ProviderFailure(.malformedResponse, message: "the reply decodes to no audio")
            failure.bytesSent = result.bytesSent
            throw failure
        }
        return result
    }

    /// Decodes a reply through a temporary file; headerless `pcm` gets a WAV header first.
    ///
    /// Speech runs at about 15 characters a second, so a reply much longer than its text is garbage, not speech:
    /// decoding stops at half a second per character (a minute at least).
    private func decode(_ result: SpeechResult, characters: Int) async throws -> [Float] {
        var bytes = result.audio
        var fileExtension = result.format
        if result.format == "pcm" {
            bytes = WAVHeader.wrap(pcm16: result.audio, sampleRate: result.pcmSampleRate ?? 24_000)
            fileExtension = "wav"
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("speech-\(UUID()).\(fileExtension)")
        let contents = bytes
        try await runBlocking { _ in try contents.write(to: file) }
        defer { try? FileManager.default.removeItem(at: file) }
        let limits = MediaLimits(maxDecodedSeconds: max(60, Double(characters) * 0.5))
        let audio = try await self.decoder.open(
            file, options: DecodeOptions(sampleRate: self.sampleRate, limits: limits))
        var samples: [Float] = []
        for try await block in audio.blocks {
            samples += block.samples
        }
        return samples
    }
}

/// A RIFF/WAVE header for headerless 16-bit mono PCM.
package enum WAVHeader {
    /// `pcm16` (little-endian s16 mono) with a 44-byte WAV header in front.
    package static func wrap(pcm16: Data, sampleRate: Int) -> Data {
        var header = Data()
        func append(_ text: String) { header.append(Data(text.utf8)) }
        func append32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { header.append(contentsOf: $0) } }
        func append16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { header.append(contentsOf: $0) } }
        let dataSize = UInt32(clamping: pcm16.count)
        append("RIFF")
        append32(36 &+ dataSize)
        append("WAVEfmt ")
        append32(16)
        append16(1)
        append16(1)
        append32(UInt32(sampleRate))
        append32(UInt32(sampleRate * 2))
        append16(2)
        append16(16)
        append("data")
        append32(dataSize)
        return header + pcm16
    }
}
