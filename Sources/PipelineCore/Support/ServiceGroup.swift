/// Runs several ``Service``s under one shutdown signal: graceful first, in reverse start order, cancellation last.
///
/// Each service is built with a ``ShutdownSignal`` of its own. When the group's `shutdown` is raised (SIGTERM), the
/// group raises the services' signals one at a time, last-started first, waiting for each to return before asking
/// the next: the HTTP API stops accepting and finishes its requests while the worker still runs their jobs; then the
/// worker finishes its jobs while the event forwarder still announces them. Whatever is still running when `grace`
/// has passed since the signal is cancelled. A service that returns or throws by itself starts the same shutdown;
/// the first error, if any, is rethrown once all have stopped.
package struct ServiceGroup: Sendable {
    /// A service and the signal it was built to obey.
    package struct Member: Sendable {
        /// The service.
        package var service: any Service
        /// The signal that asks it to stop gracefully.
        package var shutdown: ShutdownSignal

        /// Pairs a service with its signal.
        package init(_ service: any Service, shutdown: ShutdownSignal) {
            self.service = service
            self.shutdown = shutdown
        }
    }

    private let members: [Member]
    private let shutdown: ShutdownSignal
    private let grace: Duration
    private let logger: Logger
    private let clock: any MonotonicClock

    /// Creates a group of `members`, in start order.
    package init(
        _ members: [Member], shutdown: ShutdownSignal, grace: Duration, logger: Logger,
        clock: any MonotonicClock = SystemClock()
    ) {
        self.members = members
        self.shutdown = shutdown
        self.grace = grace
        self.logger = logger
        self.clock = clock
    }

    private enum Event: Sendable {
        case finished(Int, (any Error)?)
        case shutdownRequested
        case graceOver
    }

    /// Runs every service until all have returned.
    package func run() async throws {
        var firstError: (any Error)?
        await withTaskGroup(of: Event.self) { group in
            for (index, member) in self.members.enumerated() {
                group.addTask {
                    do {
                        try await member.service.run()
                        return .finished(index, nil)
                    } catch {
                        return .finished(index, error)
                    }
                }
            }
            group.addTask {
                await self.shutdown.wait()
                return .shutdownRequested
            }
            var running = Set(self.members.indices)
            var stopping = false
            var graceStarted = false
            /// Asks the last-started service still running to stop; the others wait their turn.
            func askNext() {
                guard let last = running.max() else { return }
                self.members[last].shutdown.request()
            }
            while !running.isEmpty, let event = await group.next() {
                switch event {
                case .finished(let index, let error):
                    running.remove(index)
                    let name = self.members[index].service.name
                    if let error, !(error is CancellationError) {
                        self.logger.error("service failed", ["service": .string(name), "error": .string("\(error)")])
                        firstError = firstError ?? error
                    } else {
                        self.logger.info("service stopped", ["service": .string(name)])
                    }
                    // One part of the process stopping stops the rest: a worker without its API, or the reverse,
                    // is not what was started.
                    if !stopping {
                        self.shutdown.request()
                    } else {
                        askNext()
                    }
                case .shutdownRequested:
                    stopping = true
                    askNext()
                    if !graceStarted {
                        graceStarted = true
                        group.addTask {
                            try? await self.clock.sleep(for: self.grace)
                            return .graceOver
                        }
                    }
                case .graceOver:
                    if !running.isEmpty {
                        let names = running.sorted().map { self.members[$0].service.name }
                        self.logger.warning(
                            "shutdown grace over; cancelling", ["running": .array(names.map { .string($0) })])
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
