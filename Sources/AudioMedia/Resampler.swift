internal import CFFmpeg

/// An owned `SwrContext` that converts one input format (rate, sample format, layout) to mono.
struct Resampler: ~Copyable {
    let context: OpaquePointer
    let inputRate: Int32
    let inputSampleFormat: AVSampleFormat
    let outputRate: Int32
    let outputSampleFormat: AVSampleFormat
    // Heap-held so the owned copy can be released in `deinit` without mutating `self`.
    private let inputLayout: UnsafeMutablePointer<AVChannelLayout>

    /// Builds a converter from the given input to mono `outputFormat` at `outputRate`.
    ///
    /// An input layout with unspecified order is replaced by the default layout for its channel count.
    init(
        inputLayout: UnsafePointer<AVChannelLayout>, inputFormat: AVSampleFormat, inputRate: Int32,
        outputFormat: AVSampleFormat, outputRate: Int32
    ) throws(FFmpegError) {
        guard inputRate > 0, outputRate > 0, inputLayout.pointee.nb_channels > 0 else {
            throw FFmpegError(code: cffmpeg_averror_invaliddata(), function: "swr_alloc_set_opts2")
        }
        let layout = UnsafeMutablePointer<AVChannelLayout>.allocate(capacity: 1)
        layout.initialize(to: AVChannelLayout())
        if inputLayout.pointee.order == AV_CHANNEL_ORDER_UNSPEC {
            av_channel_layout_default(layout, inputLayout.pointee.nb_channels)
        } else if av_channel_layout_copy(layout, inputLayout) < 0 {
            layout.deallocate()
            throw FFmpegError.outOfMemory("av_channel_layout_copy")
        }
        var mono = cffmpeg_layout_mono()
        var context: OpaquePointer? = nil
        var status = swr_alloc_set_opts2(
            &context, &mono, outputFormat, outputRate, layout, inputFormat, inputRate, 0, nil)
        if status >= 0 {
            // Normalise the downmix as the ffmpeg CLI does for 16-bit output: (L + R) / 2, never louder than the input.
            status = av_opt_set_double(UnsafeMutableRawPointer(context), "rematrix_maxval", 1.0, 0)
        }
        if status >= 0 {
            status = swr_init(context)
        }
        guard status >= 0, let context else {
            swr_free(&context)
            av_channel_layout_uninit(layout)
            layout.deallocate()
            throw FFmpegError(code: status < 0 ? status : cffmpeg_averror(ENOMEM), function: "swr_init")
        }
        self.context = context
        self.inputLayout = layout
        self.inputRate = inputRate
        self.inputSampleFormat = inputFormat
        self.outputRate = outputRate
        self.outputSampleFormat = outputFormat
    }

    deinit {
        var context: OpaquePointer? = self.context
        swr_free(&context)
        av_channel_layout_uninit(self.inputLayout)
        self.inputLayout.deallocate()
    }

    /// Whether `frame` has the format this converter was built for.
    func accepts(_ frame: UnsafePointer<AVFrame>) -> Bool {
        guard frame.pointee.sample_rate == self.inputRate,
            frame.pointee.format == self.inputSampleFormat.rawValue
        else { return false }
        if frame.pointee.ch_layout.order == AV_CHANNEL_ORDER_UNSPEC {
            return frame.pointee.ch_layout.nb_channels == self.inputLayout.pointee.nb_channels
        }
        return withUnsafePointer(to: frame.pointee.ch_layout) { av_channel_layout_compare($0, self.inputLayout) == 0 }
    }

    /// Converts `count` input samples (or, with nil input, flushes the tail) into raw output planes.
    ///
    /// Returns the number of output samples written, at most `capacity`.
    func convert(
        _ input: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, count: Int32,
        into output: UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, capacity: Int32
    ) throws(FFmpegError) -> Int32 {
        try check(swr_convert(self.context, output, capacity, input, count), "swr_convert")
    }

    /// An upper bound on the output for `count` more input samples, counting what is buffered.
    func outputCapacity(forInput count: Int32) -> Int32 {
        max(swr_get_out_samples(self.context, count), 0) + 32
    }

    /// Converts into mono Float32 appended to `output`; the output format must be `AV_SAMPLE_FMT_FLT`.
    func convert(
        _ input: UnsafeMutablePointer<UnsafePointer<UInt8>?>?, count: Int32, appendingTo output: inout [Float]
    ) throws(FFmpegError) {
        let capacity = self.outputCapacity(forInput: count)
        let start = output.count
        output.append(contentsOf: repeatElement(0, count: Int(capacity)))
        var written: Int32 = 0
        var failure: FFmpegError?
        output.withUnsafeMutableBufferPointer { buffer in
            var plane: UnsafeMutablePointer<UInt8>? = UnsafeMutableRawPointer(buffer.baseAddress! + start)
                .assumingMemoryBound(to: UInt8.self)
            do throws(FFmpegError) {
                written = try self.convert(input, count: count, into: &plane, capacity: capacity)
            } catch {
                failure = error
            }
        }
        output.removeLast(Int(capacity - written))
        if let failure {
            throw failure
        }
    }

    /// Drains the samples still held for filtering into `output`, after the last input.
    func flush(appendingTo output: inout [Float]) throws(FFmpegError) {
        while true {
            let before = output.count
            try self.convert(nil, count: 0, appendingTo: &output)
            if output.count == before {
                return
            }
        }
    }
}
