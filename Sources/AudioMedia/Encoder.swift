internal import CFFmpeg

/// An owned, opened mono audio encoder (`AVCodecContext`).
struct Encoder: ~Copyable {
    let context: UnsafeMutablePointer<AVCodecContext>
    /// Whether the last frame may be shorter than `frameSize`.
    let acceptsShortLastFrame: Bool

    /// Opens `codecName` for mono input at the supported rate nearest above `sampleRate`.
    init(codecName: String, sampleRate: Int32, bitRate: Int64?, globalHeader: Bool) throws(FFmpegError) {
        guard let codec = avcodec_find_encoder_by_name(codecName) else {
            throw FFmpegError(code: cffmpeg_averror_encoder_not_found(), function: "avcodec_find_encoder_by_name")
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw FFmpegError.outOfMemory("avcodec_alloc_context3")
        }
        var owned: UnsafeMutablePointer<AVCodecContext>? = context
        context.pointee.sample_rate = Self.supportedRate(nearest: sampleRate, of: codec)
        context.pointee.sample_fmt = Self.preferredFormat(of: codec)
        context.pointee.ch_layout = cffmpeg_layout_mono()
        context.pointee.time_base = AVRational(num: 1, den: context.pointee.sample_rate)
        context.pointee.thread_count = 1
        if let bitRate {
            context.pointee.bit_rate = bitRate
        }
        if globalHeader {
            context.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        }
        let status = avcodec_open2(context, codec, nil)
        if status < 0 {
            avcodec_free_context(&owned)
            throw FFmpegError(code: status, function: "avcodec_open2")
        }
        let capabilities = codec.pointee.capabilities
        self.acceptsShortLastFrame =
            capabilities & Int32(AV_CODEC_CAP_SMALL_LAST_FRAME | AV_CODEC_CAP_VARIABLE_FRAME_SIZE) != 0
        self.context = context
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = self.context
        avcodec_free_context(&context)
    }

    /// The rate the encoder runs at, in Hz.
    var sampleRate: Int32 { self.context.pointee.sample_rate }

    /// The sample format the encoder takes.
    var sampleFormat: AVSampleFormat { self.context.pointee.sample_fmt }

    /// Samples per frame the encoder wants; codecs without a fixed size get 4096.
    var frameSize: Int32 {
        let size = self.context.pointee.frame_size
        return size > 0 ? size : 4096
    }

    /// Sends a frame, or nil to drain.
    func send(_ frame: UnsafeMutablePointer<AVFrame>?) throws(FFmpegError) {
        try check(avcodec_send_frame(self.context, frame), "avcodec_send_frame")
    }

    /// Takes the next packet; false when the encoder needs more input or is drained.
    func receive(into packet: borrowing Packet) throws(FFmpegError) -> Bool {
        let status = avcodec_receive_packet(self.context, packet.pointer)
        if status == cffmpeg_averror_eagain() || status == cffmpeg_averror_eof() {
            return false
        }
        try check(status, "avcodec_receive_packet")
        return true
    }

    private static func supportedRate(nearest rate: Int32, of codec: UnsafePointer<AVCodec>) -> Int32 {
        guard var cursor = codec.pointee.supported_samplerates else { return rate }
        var rates: [Int32] = []
        while cursor.pointee != 0 {
            rates.append(cursor.pointee)
            cursor += 1
        }
        if rates.contains(rate) {
            return rate
        }
        return rates.filter { $0 >= rate }.min() ?? rates.max() ?? rate
    }

    private static func preferredFormat(of codec: UnsafePointer<AVCodec>) -> AVSampleFormat {
        guard var cursor = codec.pointee.sample_fmts else { return AV_SAMPLE_FMT_S16 }
        var formats: [AVSampleFormat] = []
        while cursor.pointee != AV_SAMPLE_FMT_NONE {
            formats.append(cursor.pointee)
            cursor += 1
        }
        // 16-bit keeps lossless outputs (WAV, FLAC) the size users expect.
        for preferred in [AV_SAMPLE_FMT_S16, AV_SAMPLE_FMT_S16P] where formats.contains(preferred) {
            return preferred
        }
        return formats.first ?? AV_SAMPLE_FMT_S16
    }
}
