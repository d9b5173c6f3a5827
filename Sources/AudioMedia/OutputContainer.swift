internal import CFFmpeg

/// An owned muxer (`AVFormatContext`) writing either to a file or into memory.
struct OutputContainer: ~Copyable {
    /// Where the muxed bytes go.
    enum Destination {
        case file(path: String)
        case memory
        /// A non-seekable stream: bytes are taken as they are muxed (``takeStreamed()``), for playing while
        /// encoding.
        case stream
    }

    let context: UnsafeMutablePointer<AVFormatContext>
    private let sink: MemorySink?
    private let stream: StreamSink?

    init(muxer: String, destination: Destination) throws(FFmpegError) {
        var context: UnsafeMutablePointer<AVFormatContext>? = nil
        try check(avformat_alloc_output_context2(&context, nil, muxer, nil), "avformat_alloc_output_context2")
        guard let context else { throw FFmpegError.outOfMemory("avformat_alloc_output_context2") }
        switch destination {
        case .file(let path):
            let status = avio_open(&context.pointee.pb, "file:" + path, AVIO_FLAG_WRITE)
            if status < 0 {
                avformat_free_context(context)
                throw FFmpegError(code: status, function: "avio_open")
            }
            self.sink = nil
            self.stream = nil
        case .memory:
            let sink = MemorySink()
            guard let pb = Self.makeMemoryIO(for: sink) else {
                avformat_free_context(context)
                throw FFmpegError.outOfMemory("avio_alloc_context")
            }
            context.pointee.pb = pb
            context.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
            self.sink = sink
            self.stream = nil
        case .stream:
            let stream = StreamSink()
            guard let pb = Self.makeStreamIO(for: stream) else {
                avformat_free_context(context)
                throw FFmpegError.outOfMemory("avio_alloc_context")
            }
            context.pointee.pb = pb
            context.pointee.flags |= AVFMT_FLAG_CUSTOM_IO
            self.sink = nil
            self.stream = stream
        }
        self.context = context
    }

    deinit {
        if self.sink != nil || self.stream != nil {
            if let pb = self.context.pointee.pb {
                // libavformat may have replaced the buffer, so free the one it holds now.
                av_freep(&pb.pointee.buffer)
                var owned: UnsafeMutablePointer<AVIOContext>? = pb
                avio_context_free(&owned)
                self.context.pointee.pb = nil
            }
        } else {
            avio_closep(&self.context.pointee.pb)
        }
        avformat_free_context(self.context)
    }

    /// Whether this muxer wants codec extradata in a global header.
    var wantsGlobalHeader: Bool { (self.context.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 }

    /// Flushes buffered bytes and, for a file, closes it; call once, after the trailer.
    func close() throws(FFmpegError) {
        guard let pb = self.context.pointee.pb else { return }
        avio_flush(pb)
        try check(pb.pointee.error, "avio_flush")
        if self.sink == nil && self.stream == nil {
            try check(avio_closep(&self.context.pointee.pb), "avio_closep")
        }
    }

    /// The bytes written, for a memory destination; nil for a file.
    var bytes: [UInt8]? { self.sink?.bytes }

    /// For a stream destination, the bytes muxed since the last call (after flushing libavformat's buffer).
    func takeStreamed() -> [UInt8] {
        guard let stream = self.stream else { return [] }
        if let pb = self.context.pointee.pb {
            avio_flush(pb)
        }
        return stream.take()
    }

    private typealias WritePacket =
        @convention(c) (
            UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int32
        ) -> Int32
    private typealias Seek = @convention(c) (UnsafeMutableRawPointer?, Int64, Int32) -> Int64

    private static func makeStreamIO(for sink: StreamSink) -> UnsafeMutablePointer<AVIOContext>? {
        // No seek callback: the muxer knows it cannot go back (an MP3 header without a Xing frame, Ogg pages
        // as they fill).
        let context = Self.makeWriteIO(
            bufferSize: 16 * 1024, opaque: Unmanaged.passUnretained(sink).toOpaque(),
            write: { opaque, data, count in
                guard let opaque, let data, count >= 0 else { return cffmpeg_averror(EINVAL) }
                let sink = Unmanaged<StreamSink>.fromOpaque(opaque).takeUnretainedValue()
                sink.write(UnsafeRawBufferPointer(start: data, count: Int(count)))
                return count
            }, seek: nil)
        context?.pointee.seekable = 0
        return context
    }

    private static func makeMemoryIO(for sink: MemorySink) -> UnsafeMutablePointer<AVIOContext>? {
        Self.makeWriteIO(
            bufferSize: 64 * 1024, opaque: Unmanaged.passUnretained(sink).toOpaque(),
            write: { opaque, data, count in
                guard let opaque, let data, count >= 0 else { return cffmpeg_averror(EINVAL) }
                let sink = Unmanaged<MemorySink>.fromOpaque(opaque).takeUnretainedValue()
                sink.write(UnsafeRawBufferPointer(start: data, count: Int(count)))
                return count
            },
            seek: { opaque, offset, whence in
                guard let opaque else { return Int64(cffmpeg_averror(EINVAL)) }
                let sink = Unmanaged<MemorySink>.fromOpaque(opaque).takeUnretainedValue()
                if whence & AVSEEK_SIZE != 0 {
                    return Int64(sink.bytes.count)
                }
                let position = sink.seek(to: offset, whence: whence & ~AVSEEK_FORCE)
                return position < 0 ? Int64(cffmpeg_averror(EINVAL)) : position
            })
    }

    /// A write-only AVIO context over `opaque` with a buffer libavformat owns (freed here if allocation fails).
    private static func makeWriteIO(
        bufferSize: Int32, opaque: UnsafeMutableRawPointer, write: WritePacket, seek: Seek?
    ) -> UnsafeMutablePointer<AVIOContext>? {
        guard let buffer = av_malloc(Int(bufferSize)) else { return nil }
        let context = avio_alloc_context(
            buffer.assumingMemoryBound(to: UInt8.self), bufferSize, 1, opaque, nil, write, seek)
        if context == nil {
            var unused: UnsafeMutableRawPointer? = buffer
            av_freep(&unused)
        }
        return context
    }
}
