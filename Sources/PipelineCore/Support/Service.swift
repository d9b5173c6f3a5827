/// A long-running part of the process (the queue worker, the HTTP API): it runs until it is done or told to stop.
///
/// Stopping is graceful first: a service is given a ``ShutdownSignal`` when it is built, and once that is raised it
/// stops taking new work, finishes what it holds and returns. Cancellation is the hard stop: a service that is
/// cancelled returns (or throws `CancellationError`) promptly, leaving nothing half-done that a restart cannot redo.
package protocol Service: Sendable {
    /// A name for logs.
    var name: String { get }

    /// Runs the service; returns when it is finished.
    func run() async throws
}
