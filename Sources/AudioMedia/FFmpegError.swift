internal import CFFmpeg

/// A failed libav call: the function and its negative return code.
struct FFmpegError: Error, Sendable {
    /// The negative `AVERROR` code.
    let code: Int32
    /// The C function that returned it.
    let function: String

    /// FFmpeg's own description of `code`.
    var message: String { Self.describe(self.code) }

    /// FFmpeg's description of an error code, from `av_strerror`.
    static func describe(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(AV_ERROR_MAX_STRING_SIZE))
        let capacity = buffer.count
        buffer.withUnsafeMutableBufferPointer { pointer in
            _ = av_strerror(code, pointer.baseAddress, capacity)
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// An out-of-memory failure of an allocator that returns NULL.
    static func outOfMemory(_ function: String) -> FFmpegError {
        FFmpegError(code: cffmpeg_averror(ENOMEM), function: function)
    }
}

/// Throws when a libav status is negative; returns it otherwise.
@discardableResult
func check(_ code: Int32, _ function: String) throws(FFmpegError) -> Int32 {
    if code < 0 {
        throw FFmpegError(code: code, function: function)
    }
    return code
}
