internal import CFFmpeg
import PipelineCore
import Synchronization

/// One open encode, shared between the producer's task and the Dispatch thread doing the C work.
final class FFmpegEncodeSession: Sendable {
    private let writer: Mutex<AudioFileWriter>
    /// Where the bytes go, for error messages.
    let output: String

    init(writer: consuming sending AudioFileWriter, output: String) {
        self.writer = Mutex(writer)
        self.output = output
    }

    /// Encodes `samples`; blocking, so call it from ``runBlocking(_:)``.
    func write(_ samples: [Float]) throws(MediaError) {
        do throws(FFmpegError) {
            try self.writer.withLock { writer throws(FFmpegError) in
                try samples.withUnsafeBufferPointer { buffer throws(FFmpegError) in try writer.write(buffer) }
            }
        } catch {
            throw error.encodingError(output: self.output)
        }
    }

    /// For a stream destination, the bytes muxed since the last call.
    func takeStreamed() -> [UInt8] { self.writer.withLock { $0.takeStreamed() } }

    /// Finishes the file; returns its rate, the input samples written and, for memory output, the bytes.
    func finish() throws(MediaError) -> (sampleRate: Int, inputSamples: Int, bytes: [UInt8]?) {
        do throws(FFmpegError) {
            return try self.writer.withLock { writer throws(FFmpegError) in
                try writer.finish()
                return (writer.outputRate, writer.inputSamples, writer.bytes)
            }
        } catch {
            throw error.encodingError(output: self.output)
        }
    }
}

extension FFmpegError {
    /// The media error an encoding failure means.
    func encodingError(output: String) -> MediaError {
        let kind: MediaError.Kind =
            switch self.code {
            case cffmpeg_averror_encoder_not_found(): .unsupportedCodec
            case cffmpeg_averror(EINVAL): .invalidArgument
            default: .ioError
            }
        return MediaError(kind, input: output, reason: self.message, function: self.function, code: self.code)
    }
}
