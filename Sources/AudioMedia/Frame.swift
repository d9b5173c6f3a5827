internal import CFFmpeg

/// An owned `AVFrame`.
struct Frame: ~Copyable {
    let pointer: UnsafeMutablePointer<AVFrame>

    init() throws(FFmpegError) {
        guard let pointer = av_frame_alloc() else {
            throw FFmpegError.outOfMemory("av_frame_alloc")
        }
        self.pointer = pointer
    }

    deinit {
        var pointer: UnsafeMutablePointer<AVFrame>? = self.pointer
        av_frame_free(&pointer)
    }

    /// The frame's sample planes, typed as `swr_convert` wants its input.
    var planes: UnsafeMutablePointer<UnsafePointer<UInt8>?>? {
        guard let data = self.pointer.pointee.extended_data else { return nil }
        return UnsafeMutableRawPointer(data).assumingMemoryBound(to: UnsafePointer<UInt8>?.self)
    }
}
