import Foundation
import PipelineCore

/// `audio-worker transcribe INPUT...`: one-off transcription, outputs beside each input or in `--output-dir`.
enum TranscribeCommand: Command {
    static let name = "transcribe"
    static let summary = "transcribe media files through the gateway; writes NAME.json, NAME.txt, ..."
    static let usage =
        "audio-worker transcribe INPUT... [--output-dir DIR] [--formats json,srt,vtt,txt] [--language CODE]\n"
        + "       [--function NAME] [--concurrency N]"
    static let specification = CommandLineArguments.Specification(
        valueOptions: ["--output-dir", "--formats", "--language", "--function", "--concurrency"])

    private struct Summary: Encodable {
        var input: String
        var ok: Bool
        var outputs: [String] = []
        var duration: Double?
        var chunks: Int?
        var language: String?
        var provider: String?
        var seconds: Double
        var speed: Double?
        var warnings: [String] = []
        var error: String?
    }

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        let inputs = try arguments.operands(named: "INPUT", minimum: 1)
        let configuration = try context.loadConfiguration()
        let options = try TranscriptionOptions(arguments, defaults: configuration.worker.transcription)
        let formats = options.formats
        let concurrency = try arguments.integer("--concurrency", in: 1...64)
        let outputDirectory = arguments.value("--output-dir").map { URL(fileURLWithPath: $0, isDirectory: true) }
        if let outputDirectory {
            try FileManager.default.createDirectory(at: outputDirectory, withIntermediateDirectories: true)
        }
        let pipelines = Pipelines(configuration: configuration)
        let pipeline = try pipelines.transcription(
            function: arguments.value("--function"), language: options.language, concurrency: concurrency)

        let names = try self.outputNames(for: inputs, directory: outputDirectory)
        var failures = 0
        for input in inputs {
            let summary = await self.transcribe(
                input, name: names[input] ?? input, pipeline: pipeline, formats: formats,
                outputDirectory: outputDirectory, console: context.console)
            if !summary.ok {
                failures += 1
                // Media errors name their input already; name it once.
                let reason = summary.error ?? "failed"
                let line = reason.hasPrefix(input + ":") ? reason : "\(input): \(reason)"
                context.console.diagnostic("audio-worker transcribe: \(line)")
            }
            try context.console.outputJSON(summary)
        }
        return failures == 0 ? 0 : 1
    }

    /// Each input's output name: its file name without the extension, or with it where two inputs would share a
    /// name in one directory (`talk.mp3` and `talk.wav` write `talk.mp3.json` and `talk.wav.json`).
    private static func outputNames(for inputs: [String], directory: URL?) throws(UsageError) -> [String: String] {
        func place(_ input: String, keepExtension: Bool) -> (directory: String, name: String) {
            let file = URL(fileURLWithPath: input)
            let folder = (directory ?? file.deletingLastPathComponent()).standardizedFileURL.path
            return (folder, keepExtension ? file.lastPathComponent : file.deletingPathExtension().lastPathComponent)
        }
        let short = inputs.map { place($0, keepExtension: false) }
        var names: [String: String] = [:]
        var taken: [String: String] = [:]
        for (input, spot) in zip(inputs, short) {
            let clash = short.filter { $0.directory == spot.directory && $0.name == spot.name }.count > 1
            let chosen = clash ? place(input, keepExtension: true) : spot
            let path = chosen.directory + "/" + chosen.name
            if let other = taken[path], other != input {
                throw UsageError(
                    "'\(input)' and '\(other)' would write the same outputs; use separate --output-dir runs")
            }
            taken[path] = input
            names[input] = chosen.name
        }
        return names
    }

    private static func transcribe(
        _ input: String, name: String, pipeline: TranscriptionPipeline, formats: [TranscriptFormat],
        outputDirectory: URL?, console: Console
    ) async -> Summary {
        let clock = ContinuousClock()
        let started = clock.now
        let file = URL(fileURLWithPath: input)
        let progress = ProgressLine(console: console)
        do {
            let outcome = try await pipeline.run(
                file,
                onChunk: { _, state in
                    let elapsed = (clock.now - started).seconds
                    let total = state.chunksTotal.map { "\($0)" } ?? "?"
                    let speed = elapsed > 0 ? state.secondsDecoded / elapsed : 0
                    progress.update(
                        "\(input): chunks \(state.chunksDone)/\(total), \(String(format: "%.0f", state.secondsDecoded)) s of audio, "
                            + "\(String(format: "%.1f", speed)) audio s/s")
                })
            let elapsed = (clock.now - started).seconds
            progress.update(
                "\(input): done, \(outcome.chunks.count) chunks in \(String(format: "%.1f", elapsed)) s", force: true)
            let document = TranscriptDocument.assemble(
                outcome, audioURI: file.standardizedFileURL.absoluteString, passThrough: nil)
            let directory = outputDirectory ?? file.deletingLastPathComponent()
            let base = name
            var outputs: [String] = []
            for (format, data) in try document.files(transcript: outcome.transcript, formats: formats) {
                let url = directory.appendingPathComponent("\(base).\(format.rawValue)")
                try TranscriptFiles.writeAtomically(data, to: url)
                outputs.append(url.relativePath)
            }
            let duration = outcome.transcript.duration ?? 0
            return Summary(
                input: input, ok: true, outputs: outputs, duration: (duration * 1000).rounded() / 1000,
                chunks: outcome.chunks.count, language: outcome.transcript.language, provider: document.provider,
                seconds: (elapsed * 1000).rounded() / 1000,
                speed: elapsed > 0 ? (duration / elapsed * 10).rounded() / 10 : nil,
                warnings: outcome.warnings)
        } catch {
            let elapsed = (clock.now - started).seconds
            return Summary(input: input, ok: false, seconds: (elapsed * 1000).rounded() / 1000, error: "\(error)")
        }
    }
}
