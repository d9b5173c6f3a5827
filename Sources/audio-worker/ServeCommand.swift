import Foundation
import HTTPAPI
import NATSBackend
import PipelineCore

/// `audio-worker serve`: the queue worker and the HTTP API, in one process under one shutdown signal.
enum ServeCommand: Command {
    static let name = "serve"
    static let summary = "work jobs from the queue and serve the HTTP API (SIGTERM: finish requests and jobs)"
    static let usage = """
        audio-worker serve [--listen HOST:PORT | --no-api] [--workers N] [--concurrency N] [--drain] [--drain-wait S]
               [--log json|text] [--data-dir DIR]
        (--workers 0 serves the API only, for a queue that other processes work)
        """
    static let specification = CommandLineArguments.Specification(
        valueOptions: ["--concurrency", "--drain-wait", "--log", "--listen", "--workers"],
        flags: ["--drain", "--no-api"])

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        HeapTrim.limitArenas()
        let concurrency = try arguments.integer("--concurrency", in: 1...256)
        let workers = try arguments.integer("--workers", in: 0...1) ?? 1
        let drainWait = try arguments.number("--drain-wait", in: 0...86_400) ?? 60
        let drain = arguments.flag("--drain")
        // A draining run is a batch: it has no API unless one is asked for.
        let serveAPI = !arguments.flag("--no-api") && (!drain || arguments.value("--listen") != nil)
        guard workers > 0 || serveAPI else {
            throw UsageError("--workers 0 with no API would do nothing")
        }
        let sink: any LogSink
        switch arguments.value("--log") ?? "json" {
        case "json": sink = JSONLinesLogSink()
        case "text": sink = TextLogSink()
        case let other: throw UsageError("unknown log format '\(other)'; use json or text")
        }
        MemoryPolicy.returnLargeBuffersToTheSystem()
        let environment = try await WorkerEnvironment.open(context)
        let shutdown = ShutdownSignal()
        let sources = SignalHandling.install(shutdown) { exit(130) }
        defer { withExtendedLifetime(sources) {} }
        let logger = Logger(sink: sink).with("data_dir", environment.dataDirectory.path)
        // Started in this order, stopped in reverse: the API stops taking requests and finishes its waits while
        // the worker still runs their jobs; the worker finishes its jobs while the forwarder still announces them.
        let (events, nats) = environment.eventForwarder(logger: logger)
        var members = [events]
        if workers > 0 {
            await environment.repairQueue(logger: logger)
            let workerShutdown = ShutdownSignal()
            let worker = environment.worker(
                concurrency: concurrency, drain: drain, drainWait: .milliseconds(Int64(drainWait * 1000)),
                logger: logger, shutdown: workerShutdown, nats: nats)
            members.append(ServiceGroup.Member(worker, shutdown: workerShutdown))
        }
        if serveAPI {
            let listen = arguments.value("--listen") ?? environment.configuration.worker.http.listen
            let apiShutdown = ShutdownSignal()
            let server = try environment.apiServer(listen: listen, logger: logger, shutdown: apiShutdown)
            logger.info(
                "http listening",
                [
                    "address": .string(listen), "port": .number(Double(server.port)),
                    "version": .string(AudioWorker.version),
                ])
            members.append(ServiceGroup.Member(server, shutdown: apiShutdown))
            await nats?.announce(
                NATSEventPublisher.Announcement(
                    url: "http://\(Self.announcedHost(listen)):\(server.port)", port: server.port,
                    version: AudioWorker.version))
        } else {
            await nats?.announce(NATSEventPublisher.Announcement(url: nil, port: nil, version: AudioWorker.version))
        }
        try await ServiceGroup(
            members, shutdown: shutdown, grace: environment.configuration.worker.worker.shutdownGrace, logger: logger
        ).run()
        return 0
    }

    /// The host others reach the API on: the listen host, or this machine's name when it listens on every address.
    static func announcedHost(_ listen: String) -> String {
        let host = listen.lastIndex(of: ":").map { String(listen[..<$0]) } ?? listen
        return ["0.0.0.0", "[::]", "::", ""].contains(host) ? ProcessInfo.processInfo.hostName : host
    }
}
