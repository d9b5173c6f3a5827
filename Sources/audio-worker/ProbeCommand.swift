import AudioMedia
import Foundation
import PipelineCore

/// `audio-worker probe INPUT`: container and stream facts as JSON.
enum ProbeCommand: Command {
    static let name = "probe"
    static let summary = "print a media file's format, duration, size and streams as JSON"
    static let usage = "audio-worker probe INPUT"
    static let specification = CommandLineArguments.Specification()

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        let input = try arguments.operands(named: "INPUT", minimum: 1, maximum: 1)[0]
        let info = try await FFmpegAudioDecoder().probe(URL(fileURLWithPath: input), limits: MediaLimits())
        try context.console.outputJSON(info, pretty: true)
        return 0
    }
}
