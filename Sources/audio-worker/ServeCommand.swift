import Foundation
import PipelineCore

/// `audio-worker serve`: the queue worker.
enum ServeCommand: Command {
    static let name = "serve"
    static let summary = "work jobs from the queue (SIGTERM: finish running jobs, return the rest)"
    static let usage =
        "audio-worker serve [--data-dir DIR] [--concurrency N] [--drain] [--drain-wait S] [--log json|text]"
    static let specification = CommandLineArguments.Specification(
        valueOptions: ["--concurrency", "--drain-wait", "--log"], flags: ["--drain"])

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        let concurrency = try arguments.integer("--concurrency", in: 1...256)
        let drainWait = try arguments.number("--drain-wait", in: 0...86_400) ?? 60
        let sink: any LogSink
        switch arguments.value("--log") ?? "json" {
        case "json": sink = JSONLinesLogSink()
        case "text": sink = TextLogSink()
        case let other: throw UsageError("unknown log format '\(other)'; use json or text")
        }
        let environment = try await WorkerEnvironment.open(context)
        let shutdown = ShutdownSignal()
        let sources = SignalHandling.install(shutdown) { exit(130) }
        defer { withExtendedLifetime(sources) {} }
        let logger = Logger(sink: sink).with("data_dir", environment.dataDirectory.path)
        _ = try await environment.worker(
            concurrency: concurrency, drain: arguments.flag("--drain"),
            drainWait: .milliseconds(Int64(drainWait * 1000)),
            logger: logger, shutdown: shutdown
        ).run()
        return 0
    }
}
