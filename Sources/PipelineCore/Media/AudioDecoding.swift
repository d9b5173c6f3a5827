import Foundation

/// Reads media files as mono Float32 audio.
package protocol AudioDecoding: Sendable {
    /// Opens `file`, picks its best audio stream and prepares to stream it at `options.sampleRate`.
    ///
    /// Problems visible up front (missing file, not media, no audio, unsupported codec, size limit) are thrown
    /// here as ``MediaError``; later ones are thrown while iterating ``DecodedAudio/blocks``.
    func open(_ file: URL, options: DecodeOptions) async throws -> DecodedAudio

    /// Describes the container and every stream of `file`, without decoding.
    func probe(_ file: URL, limits: MediaLimits) async throws -> MediaInfo
}
