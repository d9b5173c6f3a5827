internal import CFFmpeg

/// An owned, opened audio decoder (`AVCodecContext`) for one stream.
struct Decoder: ~Copyable {
    /// What `receive(into:)` found; EAGAIN and end of stream are loop states, not errors.
    enum Output {
        case frame
        case needsInput
        case endOfStream
    }

    let context: UnsafeMutablePointer<AVCodecContext>

    /// Opens the decoder for `stream`, single-threaded: jobs run in parallel instead.
    init(stream: UnsafeMutablePointer<AVStream>) throws(FFmpegError) {
        guard let parameters = stream.pointee.codecpar else {
            throw FFmpegError(code: cffmpeg_averror_decoder_not_found(), function: "avcodec_find_decoder")
        }
        guard let codec = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw FFmpegError(code: cffmpeg_averror_decoder_not_found(), function: "avcodec_find_decoder")
        }
        guard let context = avcodec_alloc_context3(codec) else {
            throw FFmpegError.outOfMemory("avcodec_alloc_context3")
        }
        var owned: UnsafeMutablePointer<AVCodecContext>? = context
        do throws(FFmpegError) {
            try check(avcodec_parameters_to_context(context, parameters), "avcodec_parameters_to_context")
            // Without the packet time base libavcodec cannot apply skip_samples (encoder delay) exactly.
            context.pointee.pkt_timebase = stream.pointee.time_base
            context.pointee.thread_count = 1
            try check(avcodec_open2(context, codec, nil), "avcodec_open2")
        } catch {
            avcodec_free_context(&owned)
            throw error
        }
        self.context = context
    }

    deinit {
        var context: UnsafeMutablePointer<AVCodecContext>? = self.context
        avcodec_free_context(&context)
    }

    /// The codec's short name.
    var codecName: String { String(cString: avcodec_get_name(self.context.pointee.codec_id)) }

    /// Sends one packet, or nil to start draining; returns libav's status unchanged for the caller to classify.
    func send(_ packet: borrowing Packet) -> Int32 { avcodec_send_packet(self.context, packet.pointer) }

    /// Tells the decoder no more packets will come.
    func sendEndOfStream() -> Int32 { avcodec_send_packet(self.context, nil) }

    /// Takes the next decoded frame, if one is ready.
    func receive(into frame: borrowing Frame) throws(FFmpegError) -> Output {
        switch avcodec_receive_frame(self.context, frame.pointer) {
        case 0: return .frame
        case cffmpeg_averror_eagain(): return .needsInput
        case cffmpeg_averror_eof(): return .endOfStream
        case let code: throw FFmpegError(code: code, function: "avcodec_receive_frame")
        }
    }
}
