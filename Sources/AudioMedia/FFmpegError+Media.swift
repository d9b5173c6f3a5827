internal import CFFmpeg
import PipelineCore

extension FFmpegError {
    /// The stable media error this failure means, given what was being done to which input.
    func mediaError(input: String) -> MediaError {
        let kind: MediaError.Kind
        switch self.code {
        case cffmpeg_averror(ENOENT):
            kind = .fileNotFound
        case cffmpeg_averror_invaliddata(), cffmpeg_averror(EINVAL):
            kind = self.function == "av_read_frame" ? .corruptData : .notMedia
        case cffmpeg_averror_stream_not_found():
            kind = .noAudioStream
        case cffmpeg_averror_decoder_not_found(), cffmpeg_averror_encoder_not_found(),
            cffmpeg_averror_patchwelcome():
            kind = .unsupportedCodec
        default:
            kind = .ioError
        }
        var reason = self.message
        if kind == .notMedia && self.function == "avformat_open_input" {
            // With a format whitelist, EINVAL means the probed format is one this worker refuses to open.
            let detail = self.code == cffmpeg_averror(EINVAL) ? "its format is not on the allowed list" : self.message
            reason = "not a media file this worker reads (\(detail))"
        }
        return MediaError(kind, input: input, reason: reason, function: self.function, code: self.code)
    }
}
