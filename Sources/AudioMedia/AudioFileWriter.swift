internal import CFFmpeg
import PipelineCore

/// The synchronous encode state machine: mono Float32 in, one muxed audio file out.
///
/// Not thread-safe; ``FFmpegEncodeSession`` serialises access.
struct AudioFileWriter: ~Copyable {
    private let output: OutputContainer
    private let encoder: Encoder
    private let converter: Resampler
    private let fifo: AudioFIFO
    private let frame: Frame
    private let packet: Packet
    private let stream: UnsafeMutablePointer<AVStream>
    private var scratch = ScratchBuffer()
    private var nextPTS: Int64 = 0
    private(set) var inputSamples = 0

    /// Prepares `format` at the supported rate nearest `outputRate`, for input at `inputRate`, and writes the header.
    init(
        format: AudioFileFormat, inputRate: Int, outputRate: Int, destination: OutputContainer.Destination
    ) throws(FFmpegError) {
        // A stream cannot seek back to finish an MP4 index; AAC streams as ADTS frames instead.
        let muxer: String
        if case .stream = destination, format == .m4a {
            muxer = "adts"
        } else {
            muxer = format.muxerName
        }
        let output = try OutputContainer(muxer: muxer, destination: destination)
        let encoder = try Encoder(
            codecName: format.encoderName, sampleRate: Int32(outputRate), bitRate: format.bitRate,
            globalHeader: output.wantsGlobalHeader)
        guard let stream = avformat_new_stream(output.context, nil) else {
            throw FFmpegError.outOfMemory("avformat_new_stream")
        }
        try check(
            avcodec_parameters_from_context(stream.pointee.codecpar, encoder.context),
            "avcodec_parameters_from_context")
        stream.pointee.time_base = encoder.context.pointee.time_base
        try check(avformat_write_header(output.context, nil), "avformat_write_header")
        var mono = cffmpeg_layout_mono()
        let converter = try Resampler(
            inputLayout: &mono, inputFormat: AV_SAMPLE_FMT_FLT, inputRate: Int32(inputRate),
            outputFormat: encoder.sampleFormat, outputRate: encoder.sampleRate)
        let fifo = try AudioFIFO(format: encoder.sampleFormat, capacity: encoder.frameSize * 4)
        let frame = try Frame()
        let packet = try Packet()
        self.output = output
        self.encoder = encoder
        self.stream = stream
        self.converter = converter
        self.fifo = fifo
        self.frame = frame
        self.packet = packet
    }

    /// The rate the file holds, in Hz.
    var outputRate: Int { Int(self.encoder.sampleRate) }

    /// The muxed bytes, for a memory destination, once ``finish()`` has run.
    var bytes: [UInt8]? { self.output.bytes }

    /// For a stream destination, the bytes muxed since the last call.
    func takeStreamed() -> [UInt8] { self.output.takeStreamed() }

    /// Converts and encodes `samples`; whole encoder frames are written as soon as they fill.
    mutating func write(_ samples: UnsafeBufferPointer<Float>) throws(FFmpegError) {
        guard let base = samples.baseAddress, !samples.isEmpty else { return }
        self.inputSamples += samples.count
        var plane: UnsafePointer<UInt8>? = UnsafeRawPointer(base).assumingMemoryBound(to: UInt8.self)
        _ = try self.convertIntoFIFO(&plane, count: Int32(samples.count))
        try self.encodeFrames(final: false)
    }

    /// Flushes the converter and the encoder, writes the trailer and closes the destination.
    mutating func finish() throws(FFmpegError) {
        while try self.convertIntoFIFO(nil, count: 0) > 0 {}
        try self.encodeFrames(final: true)
        try self.encoder.send(nil)
        try self.writePackets()
        try check(av_write_trailer(self.output.context), "av_write_trailer")
        try self.output.close()
    }

    private mutating func convertIntoFIFO(
        _ input: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, count: Int32
    ) throws(FFmpegError) -> Int32 {
        let capacity = self.converter.outputCapacity(forInput: count)
        self.scratch.reserve(Int(capacity) * Int(av_get_bytes_per_sample(self.encoder.sampleFormat)))
        var plane: UnsafeMutablePointer<UInt8>? = self.scratch.pointer.assumingMemoryBound(to: UInt8.self)
        let produced = try self.converter.convert(input, count: count, into: &plane, capacity: capacity)
        if produced > 0 {
            try self.fifo.write(self.scratch.pointer, count: produced)
        }
        return produced
    }

    private mutating func encodeFrames(final: Bool) throws(FFmpegError) {
        let frameSize = self.encoder.frameSize
        while self.fifo.count >= frameSize || (final && self.fifo.count > 0) {
            let available = min(frameSize, self.fifo.count)
            let size = available < frameSize && !self.encoder.acceptsShortLastFrame ? frameSize : available
            let frame = self.frame.pointer
            av_frame_unref(frame)
            frame.pointee.nb_samples = size
            frame.pointee.format = self.encoder.sampleFormat.rawValue
            frame.pointee.sample_rate = self.encoder.sampleRate
            frame.pointee.ch_layout = cffmpeg_layout_mono()
            try check(av_frame_get_buffer(frame, 0), "av_frame_get_buffer")
            if size > available {
                av_samples_set_silence(frame.pointee.extended_data, 0, size, 1, self.encoder.sampleFormat)
            }
            guard let plane = frame.pointee.extended_data[0] else {
                throw FFmpegError.outOfMemory("av_frame_get_buffer")
            }
            _ = try self.fifo.read(into: plane, count: available)
            frame.pointee.pts = self.nextPTS
            self.nextPTS += Int64(size)
            try self.encoder.send(frame)
            try self.writePackets()
        }
    }

    private func writePackets() throws(FFmpegError) {
        while try self.encoder.receive(into: self.packet) {
            av_packet_rescale_ts(
                self.packet.pointer, self.encoder.context.pointee.time_base, self.stream.pointee.time_base)
            self.packet.pointer.pointee.stream_index = self.stream.pointee.index
            try check(
                av_interleaved_write_frame(self.output.context, self.packet.pointer), "av_interleaved_write_frame")
        }
    }
}
