internal import CFFmpeg

/// An owned `AVPacket`.
struct Packet: ~Copyable {
    let pointer: UnsafeMutablePointer<AVPacket>

    init() throws(FFmpegError) {
        guard let pointer = av_packet_alloc() else {
            throw FFmpegError.outOfMemory("av_packet_alloc")
        }
        self.pointer = pointer
    }

    deinit {
        var pointer: UnsafeMutablePointer<AVPacket>? = self.pointer
        av_packet_free(&pointer)
    }

    /// Drops the packet's payload reference so the packet can be reused.
    func unref() { av_packet_unref(self.pointer) }
}
