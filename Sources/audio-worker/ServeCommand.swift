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
        // Started in this order, stopped in reverse: the worker finishes its jobs while the forwarder still
        // announces them.
        let eventsShutdown = ShutdownSignal()
        let workerShutdown = ShutdownSignal()
        let forwarder = JobEventForwarder(
            events: environment.events, publisher: LoggingEventPublisher(logger: logger), shutdown: eventsShutdown)
        let worker = environment.worker(
            concurrency: concurrency, drain: arguments.flag("--drain"),
            drainWait: .milliseconds(Int64(drainWait * 1000)), logger: logger, shutdown: workerShutdown)
        try await ServiceGroup(
            [
                ServiceGroup.Member(forwarder, shutdown: eventsShutdown),
                ServiceGroup.Member(worker, shutdown: workerShutdown),
            ], shutdown: shutdown, grace: environment.configuration.worker.worker.shutdownGrace, logger: logger
        ).run()
        return 0
    }
}
