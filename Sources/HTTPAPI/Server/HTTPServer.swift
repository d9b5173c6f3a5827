import Foundation
import PipelineCore
import Synchronization

/// An HTTP/1.1 server on GNU libmicrohttpd, answering through an ``HTTPResponder``.
///
/// `init` binds the socket and starts libmicrohttpd's threads, so ``port`` is known before ``run()``; requests
/// that arrive before `run()` wait for it. libmicrohttpd reads heads and bodies on its own threads (bodies over
/// ``HTTPServerSettings/memoryBodyBytes`` go to a scratch file as they arrive), then suspends the connection and
/// hands the request to `run()`, which answers each in a child task; the response goes back through the suspended
/// connection. Streamed responses suspend the connection while they wait for their next chunk, so a waiting stream
/// costs no CPU.
///
/// When the ``ShutdownSignal`` is raised the server stops accepting (new connections are refused), answers heads
/// that arrive on open connections with 503, lets admitted requests finish, and returns. Cancellation is the hard
/// stop: request tasks are cancelled, every suspended connection is resumed with a 503 or closed, and the daemon is
/// stopped. Either way `run()` returns only once libmicrohttpd's threads are joined and every connection is closed.
package final class HTTPServer: Service {
    /// `http`, for logs.
    package var name: String { "http" }

    /// The port the server is bound to (the one picked when ``HTTPServerSettings/port`` was 0).
    package let port: Int

    /// Connections open now (including idle kept-alive ones); 0 once ``run()`` has returned.
    package var openConnections: Int { self.engine.openConnections }

    /// Requests whose state is still allocated (from the request line until libmicrohttpd and the request's task
    /// are done with it); 0 once ``run()`` has returned. For tests and metrics: a number that stays above the
    /// open connections would be a leak.
    package var openExchanges: Int { self.engine.exchanges.current }

    private let engine: ServerEngine
    private let daemon: MHDDaemon
    private let intake: AsyncStream<Exchange>
    private let shutdown: ShutdownSignal
    private let logger: Logger
    private let address: String
    private let started = Mutex(false)

    /// Binds `settings.host:settings.port` and starts serving connections.
    ///
    /// - Throws: ``HTTPServerError`` for invalid settings, a host that is not an address literal, or a failed
    ///   start (the address and libmicrohttpd's reason: `Address already in use`).
    package init(
        settings: HTTPServerSettings, responder: any HTTPResponder, shutdown: ShutdownSignal, logger: Logger
    ) throws {
        try settings.validate()
        let address = try ListenAddress(host: settings.host, port: settings.port)
        do {
            try FileManager.default.createDirectory(at: settings.scratchDirectory, withIntermediateDirectories: true)
        } catch {
            throw HTTPServerError.invalidSettings(
                "scratch directory \(settings.scratchDirectory.path) cannot be created: \(error.localizedDescription)")
        }
        let (intake, continuation) = AsyncStream.makeStream(of: Exchange.self)
        let engine = ServerEngine(
            settings: settings, responder: responder, logger: logger.with("service", "http"), intake: continuation)
        self.daemon = try MHDDaemon(settings: settings, address: address, engine: engine)
        self.engine = engine
        self.intake = intake
        self.shutdown = shutdown
        self.logger = logger.with("service", "http")
        self.port = self.daemon.port
        self.address = address.display(port: self.daemon.port)
    }

    deinit {
        // Never run: requests that arrived are answered 503 before the daemon stops (it must not stop with
        // suspended connections).
        self.engine.closeIntake()
        self.daemon.stop()
    }

    /// Serves until the shutdown signal is raised and admitted requests are done, or until cancelled.
    ///
    /// - Throws: ``HTTPServerError/alreadyRunning`` when called twice.
    package func run() async throws {
        let first = self.started.withLock { started -> Bool in
            defer { started = true }
            return !started
        }
        guard first else { throw HTTPServerError.alreadyRunning }
        self.logger.info("listening", ["address": .string(self.address)])
        let tick = Self.sweepInterval(self.engine.settings)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.engine.sweep(every: tick) }
            group.addTask { await self.drainOnShutdown() }
            await withDiscardingTaskGroup { requests in
                // One child per request; libmicrohttpd handles one request per connection at a time, so the
                // connection cap bounds them.
                for await exchange in self.intake {
                    requests.addTask { await self.engine.serve(exchange) }
                }
                // Ended by the drain, or by cancellation: requests no child took get their 503 now.
                self.engine.closeIntake()
            }
            group.cancelAll()
        }
        await self.stopDaemon()
        self.logger.info("stopped", ["address": .string(self.address)])
    }

    private func drainOnShutdown() async {
        await self.shutdown.wait()
        guard !Task.isCancelled else { return }
        self.engine.beginDraining()
        if !self.daemon.quiesce() {
            self.logger.warning("libmicrohttpd did not stop listening")
        }
        self.logger.info("draining")
        await self.engine.waitUntilDrained()
        self.engine.closeIntake()
    }

    /// Stops libmicrohttpd off the cooperative pool (it joins threads), whether or not this task is cancelled;
    /// after a cancellation the 503s just resumed get up to a second to go out first.
    private func stopDaemon() async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            BlockingPool.shared.execute { [engine = self.engine, daemon = self.daemon] in
                engine.waitForReplies(upTo: .seconds(1))
                daemon.stop()
                done.resume()
            }
        }
    }

    /// How often the sweeper enforces timeouts and looks for hung-up clients: a quarter of the shortest timeout,
    /// between 10 and 250 ms.
    static func sweepInterval(_ settings: HTTPServerSettings) -> Duration {
        let shortest = min(settings.headerTimeout, settings.bodyTimeout, settings.idleTimeout)
        return min(max(shortest / 4, .milliseconds(10)), .milliseconds(250))
    }
}
