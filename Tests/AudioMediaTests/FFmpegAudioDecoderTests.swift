import AudioMedia
import Foundation
import PipelineCore
import TestSupport
import Testing

struct FFmpegAudioDecoderTests {
    static let goodFixtures = [
        "speech.wav", "speech.mp3", "speech.m4a", "speech.flac", "speech.opus", "speech.webm",
        "speech-44k-stereo.mp3", "speech-video.mp4", "rate-change.mp3",
    ]

    let decoder = FFmpegAudioDecoder()

    private func decodeAll(_ file: URL, options: DecodeOptions = DecodeOptions()) async throws -> (
        samples: [Float], audio: DecodedAudio
    ) {
        let audio = try await self.decoder.open(file, options: options)
        var samples: [Float] = []
        var expectedStart = 0
        for try await block in audio.blocks {
            #expect(block.startSample == expectedStart)
            #expect(block.sampleRate == options.sampleRate)
            expectedStart = block.endSample
            samples += block.samples
        }
        return (samples, audio)
    }

    @Test(arguments: goodFixtures)
    func decodesToTheLengthTheFFmpegCLIProduces(name: String) async throws {
        let file = Fixtures.audio(name)
        let reference = try Fixtures.referenceDecode(file)

        let (samples, audio) = try await self.decodeAll(file)

        let difference = abs(Double(samples.count - reference.count)) / 16_000
        #expect(difference <= 0.05, "\(name): \(samples.count) samples, ffmpeg CLI gives \(reference.count)")
        #expect(audio.summary.samples == samples.count)
        #expect(samples.count > 16_000 * 10, "every good fixture holds over ten seconds of speech")
    }

    @Test(arguments: ["speech.mp3", "speech-44k-stereo.mp3", "speech.m4a"])
    func samplesMatchTheFFmpegCLI(name: String) async throws {
        let file = Fixtures.audio(name)
        let reference = try Fixtures.referenceDecode(file)

        let (samples, _) = try await self.decodeAll(file)

        try #require(samples.count == reference.count)
        var worst: Float = 0
        for index in samples.indices {
            worst = max(worst, abs(samples[index] - Float(reference[index]) / 32768))
        }
        // The CLI's output is 16-bit, so one step of quantisation (plus rounding) is the expected difference.
        #expect(worst < 2.0 / 32768, "\(name): largest sample difference \(worst)")
    }

    @Test
    func aMidStreamRateAndLayoutChangeLosesNothing() async throws {
        let file = Fixtures.audio("rate-change.mp3")
        let reference = try Fixtures.referenceDecode(file)

        let (samples, audio) = try await self.decodeAll(file)

        // 10.525 s of 16 kHz mono speech followed by 2 s of a 44.1 kHz stereo tone.
        #expect(audio.summary.formatChanges >= 1)
        #expect(Double(samples.count) / 16_000 >= 12.5)
        let toneStart = 16_000 * 21 / 2 + 8_000
        let tone = samples[toneStart...].prefix(16_000)
        let energy = tone.reduce(0) { $0 + $1 * $1 } / Float(tone.count)
        let expected = reference[toneStart...].prefix(16_000).reduce(0) { $0 + pow(Float($1) / 32768, 2) } / 16_000
        #expect(energy > 0.001, "the tone after the change is decoded, not silence")
        #expect(abs(energy - expected) < expected * 0.05, "tone power \(energy), the ffmpeg CLI gives \(expected)")
    }

    @Test
    func videoFilesGiveTheirAudioTrack() async throws {
        let audio = try await self.decoder.open(Fixtures.audio("speech-video.mp4"), options: DecodeOptions())

        #expect(audio.source.codec == "aac")
        #expect(audio.source.streamIndex == 1)
    }

    @Test(arguments: [
        ("empty.mp3", MediaError.Kind.notMedia, "file is empty"),
        ("random-bytes.mp3", .notMedia, "not a media file"),
        ("not-media.txt", .notMedia, "not a media file"),
        ("video-only.mp4", .noAudioStream, "no audio stream (found: video h264)"),
        ("missing.wav", .fileNotFound, "no such file"),
    ])
    func badInputGivesItsSpecificError(name: String, kind: MediaError.Kind, reason: String) async throws {
        let error = await #expect(throws: MediaError.self) {
            _ = try await self.decodeAll(Fixtures.audio(name))
        }

        #expect(error?.kind == kind)
        #expect(error?.reason.contains(reason) == true, "\(error?.reason ?? "")")
        #expect(error?.input.hasSuffix(name) == true)
    }

    @Test
    func aTruncatedFileYieldsWhatDecodedWithAWarning() async throws {
        let (samples, audio) = try await self.decodeAll(Fixtures.audio("truncated.mp3"))

        #expect(samples.count > 16_000)
        #expect(audio.summary.truncated)
        #expect(audio.summary.warnings.contains { $0.contains("truncated") })
    }

    @Test
    func aPlaylistThatPointsAtOtherFilesIsRefused() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let playlist = directory.appendingPathComponent("list.m3u8")
        let target = Fixtures.audio("speech.wav").path
        try "#EXTM3U\n#EXT-X-TARGETDURATION:11\n#EXTINF:10.5,\nfile://\(target)\n#EXT-X-ENDLIST\n"
            .write(to: playlist, atomically: true, encoding: .utf8)
        let concat = directory.appendingPathComponent("list.ffconcat")
        try "ffconcat version 1.0\nfile '\(target)'\n".write(to: concat, atomically: true, encoding: .utf8)

        for file in [playlist, concat] {
            let error = await #expect(throws: MediaError.self) { _ = try await self.decodeAll(file) }
            #expect(error?.kind == .notMedia)
        }
    }

    @Test
    func inputSizeLimitIsEnforcedBeforeDecoding() async throws {
        let options = DecodeOptions(limits: MediaLimits(maxInputBytes: 1000))

        let error = await #expect(throws: MediaError.self) {
            _ = try await self.decodeAll(Fixtures.audio("speech.wav"), options: options)
        }

        #expect(error?.kind == .limitExceeded)
        #expect(error?.reason.contains("limit of 1000") == true)
    }

    @Test
    func aHeaderThatDeclaresTheImplausibleIsRefusedBeforeAnythingIsDecoded() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        for variant in try LyingMedia.variants(fixtures: Fixtures.audio(""), into: directory) {
            // Refused by `open` itself, before a block is decoded.
            let error = await #expect(throws: MediaError.self, "\(variant.name)") {
                _ = try await self.decoder.open(variant.file, options: DecodeOptions())
            }
            #expect(error?.isPermanent == true, "\(variant.name)")
            #expect(error?.reason.contains(variant.reason) == true, "\(variant.name): \(error?.reason ?? "")")
        }
    }

    @Test
    func aDeclaredDurationOverTheLimitIsRefusedAndOneUnderItDecodes() async throws {
        let over = await #expect(throws: MediaError.self) {
            _ = try await self.decoder.open(
                Fixtures.audio("speech.wav"), options: DecodeOptions(limits: MediaLimits(maxDecodedSeconds: 10)))
        }
        #expect(over?.kind == .limitExceeded)
        #expect(over?.reason == "the file declares 11 s of audio, over the limit of 10 s")
        let (samples, _) = try await self.decodeAll(
            Fixtures.audio("speech.wav"), options: DecodeOptions(limits: MediaLimits(maxDecodedSeconds: 11)))
        #expect(samples.count == 168_400)
    }

    @Test
    func decodedDurationLimitIsEnforcedAsDecodingGoes() async throws {
        // This MP3's 14.8 s are guessed from its bit rate, under twice the limit, so it opens; it holds 12.6 s.
        let options = DecodeOptions(limits: MediaLimits(maxDecodedSeconds: 8))

        let error = await #expect(throws: MediaError.self) {
            _ = try await self.decodeAll(Fixtures.audio("rate-change.mp3"), options: options)
        }

        #expect(error?.kind == .limitExceeded)
        #expect(error?.reason == "decoded audio is longer than the limit of 8 s")
    }

    @Test
    func resamplesToTheRequestedRate() async throws {
        let (samples, _) = try await self.decodeAll(
            Fixtures.audio("speech.opus"), options: DecodeOptions(sampleRate: 24_000))

        #expect(abs(Double(samples.count) / 24_000 - 10.525) < 0.01)
    }

    @Test
    func cancellationStopsALongDecode() async throws {
        let directory = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let long = directory.appendingPathComponent("long.wav")
        // Ten minutes of a quiet tone at 16 kHz: far longer than the two blocks the consumer takes.
        let tone = (0..<(16_000 * 600)).map { Float(sin(Double($0) * 0.05) * 0.1) }
        let wav = try await FFmpegAudioEncoder().encode(tone, sampleRate: 16_000, as: .wav, outputRate: 16_000)
        try wav.write(to: long)
        let audio = try await self.decoder.open(long, options: DecodeOptions())
        let (blocksSeen, continueConsuming) = AsyncStream.makeStream(of: Int.self)

        let consumer = Task {
            var count = 0
            for try await _ in audio.blocks {
                count += 1
                continueConsuming.yield(count)
                if count >= 2 {
                    withUnsafeCurrentTask { $0?.cancel() }
                }
            }
            return count
        }
        for await count in blocksSeen where count >= 2 { break }
        let outcome = await consumer.result

        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(audio.summary.samples < 16_000 * 600 / 10, "decoding stopped early: \(audio.summary.samples) samples")
    }

    @Test
    func probeDescribesEveryStream() async throws {
        let file = Fixtures.audio("speech-video.mp4")
        let size = try FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber

        let info = try await self.decoder.probe(file, limits: MediaLimits())

        #expect(info.format.contains("mp4"))
        #expect(info.streams.map(\.type) == ["video", "audio"])
        #expect(info.streams[1].sampleRate == 16_000)
        #expect(info.streams[1].channels == 1)
        #expect(abs((info.duration ?? 0) - 10.8) < 0.2)
        #expect(info.size == size?.int64Value)
    }
}
