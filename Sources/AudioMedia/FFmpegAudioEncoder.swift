import Foundation
import PipelineCore

#if canImport(Glibc)
    import Glibc
#endif

/// Encodes mono Float32 into wav, flac, mp3, ogg/opus, m4a/aac or raw s16le with libavcodec, in-process.
package struct FFmpegAudioEncoder: AudioEncoding {
    /// Creates an encoder and quiets libav's own logging.
    package init() {
        FFmpegLogging.configure()
    }

    package func encode(_ samples: [Float], sampleRate: Int, as format: AudioFileFormat, outputRate: Int)
        async throws -> Data
    {
        try Self.validate(sampleRate: sampleRate, outputRate: outputRate, output: "<memory>")
        return try await runBlocking { _ in
            let session = try Self.makeSession(
                format: format, inputRate: sampleRate, outputRate: outputRate, destination: .memory,
                output: "<memory \(format.rawValue)>")
            try session.write(samples)
            return Data(try session.finish().bytes ?? [])
        }
    }

    package func openWriter(to file: URL, sampleRate: Int, as format: AudioFileFormat, outputRate: Int)
        async throws -> AudioWriter
    {
        try Self.validate(sampleRate: sampleRate, outputRate: outputRate, output: file.path)
        let temporary = file.deletingLastPathComponent()
            .appendingPathComponent(".\(file.lastPathComponent).partial-\(UUID().uuidString.prefix(8))")
        let session = try await runBlocking { _ in
            try Self.makeSession(
                format: format, inputRate: sampleRate, outputRate: outputRate,
                destination: .file(path: temporary.path), output: file.relativePath)
        }
        return AudioWriter(
            write: { samples in try await runBlocking { _ in try session.write(samples) } },
            finish: {
                let finished = try await runBlocking { _ in try session.finish() }
                guard rename(temporary.path, file.path) == 0 else {
                    try? FileManager.default.removeItem(at: temporary)
                    throw MediaError(
                        .ioError, input: file.relativePath, reason: "cannot move the finished file into place")
                }
                var status = stat()
                let size = stat(file.path, &status) == 0 ? Int64(status.st_size) : 0
                return EncodedFile(
                    sampleRate: finished.sampleRate, inputSamples: finished.inputSamples, bytes: size)
            },
            abandon: { try? FileManager.default.removeItem(at: temporary) })
    }

    package func openStream(sampleRate: Int, as format: AudioFileFormat, outputRate: Int) async throws
        -> AudioStreamWriter
    {
        try Self.validate(sampleRate: sampleRate, outputRate: outputRate, output: "<stream>")
        // WAV is written by hand: its header carries sizes, which a stream cannot know; the convention players
        // follow for a live WAV is the largest sizes, then PCM until the connection ends.
        let container: AudioFileFormat = format == .wav ? .pcm : format
        let session = try await runBlocking { _ in
            try Self.makeSession(
                format: container, inputRate: sampleRate, outputRate: outputRate, destination: .stream,
                output: "<stream \(format.rawValue)>")
        }
        let header = format == .wav ? WAVHeader.streaming(sampleRate: outputRate) : Data()
        let first = LockedValue(true)
        return AudioStreamWriter(
            write: { samples in
                let bytes = try await runBlocking { _ in
                    try session.write(samples)
                    return Data(session.takeStreamed())
                }
                let isFirst = first.withLock { value in
                    defer { value = false }
                    return value
                }
                return isFirst ? header + bytes : bytes
            },
            finish: {
                let bytes = try await runBlocking { _ in
                    _ = try session.finish()
                    return Data(session.takeStreamed())
                }
                let isFirst = first.withLock { value in
                    defer { value = false }
                    return value
                }
                return isFirst ? header + bytes : bytes
            })
    }

    private static func validate(sampleRate: Int, outputRate: Int, output: String) throws(MediaError) {
        guard (1000...384_000).contains(sampleRate), (1000...384_000).contains(outputRate) else {
            throw MediaError(
                .invalidArgument, input: output,
                reason: "sample rates must be between 1000 and 384000 Hz (got \(sampleRate) in, \(outputRate) out)")
        }
    }

    private static func makeSession(
        format: AudioFileFormat, inputRate: Int, outputRate: Int, destination: OutputContainer.Destination,
        output: String
    ) throws(MediaError) -> FFmpegEncodeSession {
        do throws(FFmpegError) {
            let writer = try AudioFileWriter(
                format: format, inputRate: inputRate, outputRate: outputRate, destination: destination)
            return FFmpegEncodeSession(writer: writer, output: output)
        } catch {
            throw error.encodingError(output: output)
        }
    }
}
