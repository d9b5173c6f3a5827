import Foundation
import PipelineCore

/// `audio-worker synthesize (TEXT | --text-file FILE) -o OUTPUT`: one-off speech; the format follows OUTPUT.
enum SynthesizeCommand: Command {
    static let name = "synthesize"
    static let summary = "synthesize speech through the gateway into one audio file"
    static let usage =
        "audio-worker synthesize (TEXT | --text-file FILE) -o OUTPUT [--voice V] [--function NAME] [--rate HZ]\n"
        + "       (OUTPUT ends in .wav .mp3 .opus .ogg .flac .m4a or .pcm)"
    static let specification = CommandLineArguments.Specification(
        valueOptions: ["--output", "--text-file", "--voice", "--function", "--rate"], aliases: ["-o": "--output"])

    private struct Summary: Encodable {
        var output: String
        var format: String
        var sampleRate: Int
        var duration: Double
        var bytes: Int64
        var pieces: [SpeechPipeline.Piece]

        enum CodingKeys: String, CodingKey {
            case output, format, duration, bytes, pieces
            case sampleRate = "sample_rate"
        }
    }

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        let operands = try arguments.operands(named: "TEXT", minimum: 0, maximum: 1)
        let text: String
        switch (operands.first, arguments.value("--text-file")) {
        case (let inline?, nil):
            text = inline
        case (nil, let path?):
            do {
                text = try String(contentsOfFile: path, encoding: .utf8)
            } catch {
                throw UsageError("cannot read the text file '\(path)' as UTF-8")
            }
        case (nil, nil):
            throw UsageError("give the text, or --text-file FILE")
        case (.some, .some):
            throw UsageError("give the text or --text-file, not both")
        }
        guard let output = arguments.value("--output") else { throw UsageError("missing -o OUTPUT") }
        let outputURL = URL(fileURLWithPath: output)
        guard let format = AudioFileFormat(fileExtension: outputURL.pathExtension) else {
            throw UsageError("cannot tell the output format from '\(output)'")
        }
        let rate = try arguments.integer("--rate", in: 8000...48_000)
        let pipeline = try Pipelines(configuration: context.loadConfiguration())
            .speech(function: arguments.value("--function"), voice: arguments.value("--voice"), sampleRate: rate)
        let progress = ProgressLine(console: context.console)
        let outcome = try await pipeline.run(
            text, to: outputURL, format: format,
            onPiece: { piece, done, total in
                progress.update(
                    "\(output): pieces \(done)/\(total), \(String(format: "%.1f", piece.end)) s of audio",
                    force: done == total)
            })
        try context.console.outputJSON(
            Summary(
                output: output, format: format.rawValue, sampleRate: outcome.file.sampleRate,
                duration: (outcome.duration * 1000).rounded() / 1000, bytes: outcome.file.bytes, pieces: outcome.pieces)
        )
        return 0
    }
}
