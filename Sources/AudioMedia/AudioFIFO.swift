internal import CFFmpeg

/// An owned `AVAudioFifo` holding mono samples in an encoder's sample format.
struct AudioFIFO: ~Copyable {
    let pointer: OpaquePointer

    init(format: AVSampleFormat, capacity: Int32) throws(FFmpegError) {
        guard let pointer = av_audio_fifo_alloc(format, 1, capacity) else {
            throw FFmpegError.outOfMemory("av_audio_fifo_alloc")
        }
        self.pointer = pointer
    }

    deinit { av_audio_fifo_free(self.pointer) }

    /// Samples waiting.
    var count: Int32 { av_audio_fifo_size(self.pointer) }

    /// Appends `count` samples from one plane.
    func write(_ plane: UnsafeMutableRawPointer, count: Int32) throws(FFmpegError) {
        var planes: UnsafeMutableRawPointer? = plane
        let written = av_audio_fifo_write(self.pointer, &planes, count)
        try check(written, "av_audio_fifo_write")
    }

    /// Moves up to `count` samples into one plane; returns how many moved.
    func read(into plane: UnsafeMutableRawPointer, count: Int32) throws(FFmpegError) -> Int32 {
        var planes: UnsafeMutableRawPointer? = plane
        return try check(av_audio_fifo_read(self.pointer, &planes, count), "av_audio_fifo_read")
    }
}
