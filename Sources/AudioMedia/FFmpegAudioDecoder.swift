internal import CFFmpeg
import Foundation
import PipelineCore

/// Decodes any media FFmpeg 5.1 can demux into mono Float32 blocks, in-process and streaming.
package struct FFmpegAudioDecoder: AudioDecoding {
    /// Creates a decoder and quiets libav's own logging (errors reach callers as ``MediaError``).
    package init() {
        FFmpegLogging.configure()
    }

    package func open(_ file: URL, options: DecodeOptions) async throws -> DecodedAudio {
        let path = file.path
        let name = file.relativePath
        try Self.checkFile(at: path, name: name, limits: options.limits)
        let session = try await runBlocking { _ in
            FFmpegDecodeSession(
                pipeline: try DecodePipeline(path: path, name: name, options: options),
                blockSamples: options.blockSamples)
        }
        return DecodedAudio(
            source: session.source, sampleRate: options.sampleRate,
            next: { try await session.next() }, summary: { session.summary })
    }

    package func probe(_ file: URL, limits: MediaLimits) async throws -> MediaInfo {
        let path = file.path
        let name = file.relativePath
        let size = try Self.checkFile(at: path, name: name, limits: limits)
        return try await runBlocking { _ in try Self.describe(path: path, name: name, size: size, limits: limits) }
    }

    private static func describe(path: String, name: String, size: Int64, limits: MediaLimits) throws(MediaError)
        -> MediaInfo
    {
        do throws(FFmpegError) {
            let input = try InputFile(path: path, limits: limits)
            return MediaInfo(
                format: input.formatName, duration: input.duration, size: size, streams: input.describeStreams())
        } catch {
            throw error.mediaError(input: name)
        }
    }

    /// Checks existence, kind and size before libav sees the file, for clearer errors than FFmpeg's.
    @discardableResult
    static func checkFile(at path: String, name: String, limits: MediaLimits) throws(MediaError) -> Int64 {
        // stat(2), not FileManager's attributes, which look up the owner's user and group names (reading
        // /etc/passwd and /etc/group: 6 ms before every decode, measured on a job's first chunk).
        var status = stat()
        guard stat(path, &status) == 0 else {
            let code = errno
            if code == ENOENT || code == ENOTDIR {
                throw MediaError(.fileNotFound, input: name, reason: "no such file")
            }
            throw MediaError(
                .ioError, input: name, reason: "cannot read file attributes: \(String(cString: strerror(code)))")
        }
        if status.st_mode & S_IFMT == S_IFDIR {
            throw MediaError(.notMedia, input: name, reason: "is a directory")
        }
        let size = Int64(status.st_size)
        if size == 0 {
            throw MediaError(.notMedia, input: name, reason: "file is empty")
        }
        if let maxBytes = limits.maxInputBytes, size > maxBytes {
            throw MediaError(
                .limitExceeded, input: name, reason: "file is \(size) bytes, more than the limit of \(maxBytes)")
        }
        return size
    }
}
