internal import CFFmpeg
import PipelineCore

/// An owned demuxer (`AVFormatContext`) opened on a local file with the untrusted-media safeguards.
struct InputFile: ~Copyable {
    /// Demuxers that read one self-contained media file. Playlist and concatenating demuxers (`hls`, `concat`,
    /// `dash`, `image2`...) are left out so a crafted input cannot make FFmpeg read other files.
    static let allowedDemuxers = [
        "aac", "ac3", "aiff", "amr", "amrnb", "amrwb", "ape", "asf", "au", "avi", "caf", "dsf", "dts", "dtshd",
        "eac3", "flac", "flv", "gsm", "loas", "matroska", "mlp", "mov", "mp3", "mpc", "mpc8", "mpeg", "mpegts",
        "mxf", "nut", "ogg", "oma", "rm", "shn", "sox", "tak", "truehd", "tta", "voc", "w64", "wav", "wv",
        "xwma", "wtv", "3dostr", "nistsphere", "ircam", "sln", "vqf", "mp4", "webm",
    ].joined(separator: ",")

    let context: UnsafeMutablePointer<AVFormatContext>

    /// Opens `path` through the `file` protocol only, with bounded probing, and reads the stream parameters.
    init(path: String, limits: MediaLimits) throws(FFmpegError) {
        var options: OpaquePointer? = nil
        defer { av_dict_free(&options) }
        av_dict_set(&options, "protocol_whitelist", "file", 0)
        av_dict_set(&options, "format_whitelist", Self.allowedDemuxers, 0)
        av_dict_set_int(&options, "probesize", max(limits.probeBytes, 32), 0)
        av_dict_set_int(&options, "analyzeduration", Int64(limits.analyzeSeconds * 1_000_000), 0)

        var context: UnsafeMutablePointer<AVFormatContext>? = nil
        // The explicit `file:` scheme keeps a name such as `concat:a|b` from being read as another protocol.
        try check(avformat_open_input(&context, "file:" + path, nil, &options), "avformat_open_input")
        guard let opened = context else {
            throw FFmpegError.outOfMemory("avformat_open_input")
        }
        let status = avformat_find_stream_info(opened, nil)
        if status < 0 {
            avformat_close_input(&context)
            throw FFmpegError(code: status, function: "avformat_find_stream_info")
        }
        self.context = opened
    }

    deinit {
        var context: UnsafeMutablePointer<AVFormatContext>? = self.context
        avformat_close_input(&context)
    }

    /// The demuxer's name.
    var formatName: String {
        guard let name = self.context.pointee.iformat?.pointee.name else { return "unknown" }
        return String(cString: name)
    }

    /// The container's duration in seconds, when it states one.
    var duration: Double? {
        let duration = self.context.pointee.duration
        guard duration != cffmpeg_nopts_value(), duration > 0 else { return nil }
        return Double(duration) / Double(AV_TIME_BASE)
    }

    /// Whether the durations are estimated (from timestamps, which may wrap, or from the bit rate, as for an MP3
    /// without a header) rather than read from the streams' own headers, and so may be far off.
    var durationIsGuessed: Bool {
        self.context.pointee.duration_estimation_method != AVFMT_DURATION_FROM_STREAM
    }

    /// The streams, in container order.
    var streams: UnsafeBufferPointer<UnsafeMutablePointer<AVStream>?> {
        UnsafeBufferPointer(start: self.context.pointee.streams, count: Int(self.context.pointee.nb_streams))
    }

    /// The index of the best audio stream, after marking every other stream to be skipped by the demuxer.
    func selectBestAudioStream() throws(FFmpegError) -> Int32 {
        let index = try check(
            av_find_best_stream(self.context, AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0), "av_find_best_stream")
        for (position, stream) in self.streams.enumerated() where position != Int(index) {
            stream?.pointee.discard = AVDISCARD_ALL
        }
        return index
    }

    /// Describes every stream, as `probe` prints it.
    func describeStreams() -> [MediaInfo.Stream] {
        self.streams.enumerated().compactMap { position, stream in
            guard let stream, let parameters = stream.pointee.codecpar else { return nil }
            let isAudio = parameters.pointee.codec_type == AVMEDIA_TYPE_AUDIO
            var duration: Double? = nil
            if stream.pointee.duration != cffmpeg_nopts_value() && stream.pointee.duration > 0 {
                duration = Double(stream.pointee.duration) * av_q2d(stream.pointee.time_base)
            }
            return MediaInfo.Stream(
                index: position,
                type: Self.mediaTypeName(parameters.pointee.codec_type),
                codec: String(cString: avcodec_get_name(parameters.pointee.codec_id)),
                sampleRate: isAudio ? Int(parameters.pointee.sample_rate) : nil,
                channels: isAudio ? Int(parameters.pointee.ch_layout.nb_channels) : nil,
                duration: duration
            )
        }
    }

    private static func mediaTypeName(_ type: AVMediaType) -> String {
        switch type {
        case AVMEDIA_TYPE_AUDIO: "audio"
        case AVMEDIA_TYPE_VIDEO: "video"
        case AVMEDIA_TYPE_SUBTITLE: "subtitle"
        case AVMEDIA_TYPE_DATA: "data"
        case AVMEDIA_TYPE_ATTACHMENT: "attachment"
        default: "unknown"
        }
    }
}
