/// The audio stream a decode reads from.
package struct SourceInfo: Sendable, Equatable {
    /// The input's path or name.
    package var input: String
    /// The demuxer's name.
    package var format: String
    /// The stream's index in the container.
    package var streamIndex: Int
    /// The codec's short name.
    package var codec: String
    /// The stream's own rate, in Hz, before resampling.
    package var sampleRate: Int
    /// The stream's own channel count.
    package var channels: Int
    /// The duration the container states, in seconds; an estimate, used for progress only.
    package var estimatedDuration: Double?

    /// Creates a description.
    package init(
        input: String, format: String, streamIndex: Int, codec: String, sampleRate: Int, channels: Int,
        estimatedDuration: Double?
    ) {
        self.input = input
        self.format = format
        self.streamIndex = streamIndex
        self.codec = codec
        self.sampleRate = sampleRate
        self.channels = channels
        self.estimatedDuration = estimatedDuration
    }
}
