/// Facts about a media file, as `audio-worker probe` prints them.
package struct MediaInfo: Sendable, Equatable, Codable {
    /// One elementary stream of the file.
    package struct Stream: Sendable, Equatable, Codable {
        /// The stream's index in the container.
        package var index: Int
        /// `audio`, `video`, `subtitle`, `data`, `attachment` or `unknown`.
        package var type: String
        /// The codec's short name, such as `mp3` or `h264`.
        package var codec: String
        /// Samples per second, for audio streams.
        package var sampleRate: Int?
        /// Channel count, for audio streams.
        package var channels: Int?
        /// The stream's duration in seconds, when the container states it.
        package var duration: Double?

        /// Creates a stream description.
        package init(index: Int, type: String, codec: String, sampleRate: Int?, channels: Int?, duration: Double?) {
            self.index = index
            self.type = type
            self.codec = codec
            self.sampleRate = sampleRate
            self.channels = channels
            self.duration = duration
        }

        private enum CodingKeys: String, CodingKey {
            case index, type, codec, channels, duration
            case sampleRate = "sample_rate"
        }
    }

    /// The demuxer's name, such as `wav` or `mov,mp4,m4a,3gp,3g2,mj2`.
    package var format: String
    /// The container's duration in seconds, when known.
    package var duration: Double?
    /// The file size in bytes.
    package var size: Int64
    /// Every stream, in container order.
    package var streams: [Stream]

    /// Creates a description.
    package init(format: String, duration: Double?, size: Int64, streams: [Stream]) {
        self.format = format
        self.duration = duration
        self.size = size
        self.streams = streams
    }
}
