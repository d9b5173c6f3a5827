internal import CFFmpeg
import Foundation

/// libav's process-wide log level.
enum FFmpegLogging {
    /// Silences libav unless `AUDIO_WORKER_FFMPEG_LOG` names a level (`error`, `warning`, `info`, `debug`).
    static func configure() {
        let level: Int32
        switch ProcessInfo.processInfo.environment["AUDIO_WORKER_FFMPEG_LOG"]?.lowercased() {
        case "error": level = AV_LOG_ERROR
        case "warning": level = AV_LOG_WARNING
        case "info": level = AV_LOG_INFO
        case "debug": level = AV_LOG_DEBUG
        default: level = AV_LOG_QUIET
        }
        av_log_set_level(level)
    }
}
