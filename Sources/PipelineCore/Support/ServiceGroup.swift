/// Runs several ``Service``s under one ``ShutdownSignal``: graceful first, cancellation last.
///
/// When the signal is raised (SIGTERM), every service has `grace` to return on its own; whatever is still running
/// then is cancelled. A service that returns or throws by itself ends the group too: the signal is raised so the
/// others stop gracefully, and the first error, if any, is rethrown once all have stopped.
package struct ServiceGroup: Sendable {
    private let services: [any Service]
    private let shutdown: ShutdownSignal
    private let grace: Duration
    private let logger: Logger
    private let clock: any MonotonicClock

    /// Creates a group; the services must have been built with the same `shutdown` signal.
    package init(
        services: [any Service], shutdown: ShutdownSignal, grace: Duration, logger: Logger,
        clock: any MonotonicClock = SystemClock()
    ) {
        self.services = services
        self.shutdown = shutdown
        self.grace = grace
        self.logger = logger
        self.clock = clock
    }

    private enum Event: Sendable {
        case finished(String, (any Error)?)
        case graceOver
    }

    /// Runs every service until all have returned.
    package func run() async throws {
        var firstError: (any Error)?
        await withTaskGroup(of: Event.self) { group in
            for service in self.services {
                group.addTask {
                    do {
                        try await service.run()
                        return .finished(service.name, nil)
                    } catch {
                        return .finished(service.name, error)
                    }
                }
            }
            group.addTask {
                await self.shutdown.wait()
                guard !Task.isCancelled else { return .graceOver }
                try? await self.clock.sleep(for: self.grace)
                return .graceOver
            }
            var running = self.services.count
            while running > 0, let event = await group.next() {
                switch event {
                case .finished(let name, let error):
                    running -= 1
                    if let error, !(error is CancellationError) {
                        self.logger.error("service failed", ["service": .string(name), "error": .string("\(error)")])
                        firstError = firstError ?? error
                    } else {
                        self.logger.info("service stopped", ["service": .string(name)])
                    }
                    // One part of the process stopping stops the rest: a worker without its API, or the reverse,
                    // is not what was started.
                    self.shutdown.request()
                case .graceOver:
                    if running > 0 {
                        self.logger.warning(
                            "shutdown grace over; cancelling", ["running": .number(Double(running))])
                        group.cancelAll()
                    }
                }
            }
            group.cancelAll()
        }
        if let firstError {
            throw firstError
        }
    }
}
