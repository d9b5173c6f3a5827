import AudioMedia
import Foundation
import PipelineCore

/// `audio-worker decode INPUT -o OUTPUT [--rate HZ]`: the in-process `ffmpeg -i IN -vn -ac 1 -ar 16000 OUT`.
enum DecodeCommand: Command {
    static let name = "decode"
    static let summary = "decode and resample any media to mono audio; the format follows OUTPUT's extension"
    static let usage =
        "audio-worker decode INPUT -o OUTPUT [--rate HZ] [--max-bytes N] [--max-seconds S]\n"
        + "       (OUTPUT ends in .wav .flac .mp3 .opus .ogg .m4a or .pcm)"
    static let specification = CommandLineArguments.Specification(
        valueOptions: ["--output", "--rate", "--max-bytes", "--max-seconds"], aliases: ["-o": "--output"])

    private struct Summary: Encodable {
        var input: String
        var output: String
        var format: String
        var sampleRate: Int
        var duration: Double
        var bytes: Int64
        var warnings: [String]

        enum CodingKeys: String, CodingKey {
            case input, output, format, duration, bytes, warnings
            case sampleRate = "sample_rate"
        }
    }

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        let input = try arguments.operands(named: "INPUT", minimum: 1, maximum: 1)[0]
        guard let output = arguments.value("--output") else { throw UsageError("missing -o OUTPUT") }
        let outputURL = URL(fileURLWithPath: output)
        guard let format = AudioFileFormat(fileExtension: outputURL.pathExtension) else {
            throw UsageError("cannot tell the output format from '\(output)'")
        }
        let rate = try arguments.integer("--rate", in: 1000...384_000) ?? 16_000
        var limits = MediaLimits()
        if let maxBytes = try arguments.integer("--max-bytes", in: 1...Int.max) {
            limits.maxInputBytes = Int64(maxBytes)
        }
        if let maxSeconds = try arguments.number("--max-seconds", in: 0.001...1e9) {
            limits.maxDecodedSeconds = maxSeconds
        }

        let audio = try await FFmpegAudioDecoder().open(
            URL(fileURLWithPath: input), options: DecodeOptions(sampleRate: rate, limits: limits))
        let encoded = try await FFmpegAudioEncoder().encode(
            audio.blocks, sampleRate: rate, to: outputURL, as: format, outputRate: rate)
        let summary = audio.summary
        for warning in summary.warnings {
            context.console.diagnostic("warning: \(input): \(warning)")
        }
        try context.console.outputJSON(
            Summary(
                input: input, output: output, format: format.rawValue, sampleRate: encoded.sampleRate,
                duration: Double(summary.samples) / Double(rate), bytes: encoded.bytes, warnings: summary.warnings))
        return 0
    }
}
