import Dispatch
import Foundation
import PipelineCore

/// SIGTERM and SIGINT as a graceful shutdown request; a second signal exits at once.
enum SignalHandling {
    /// Routes both signals to `shutdown`, and keeps the sources alive for the process's life.
    static func install(_ shutdown: ShutdownSignal, onSecondSignal: @escaping @Sendable () -> Void)
        -> [any DispatchSourceSignal]
    {
        // A parent may have started us with these signals blocked (a thread mask survives exec).
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGTERM)
        sigaddset(&unblock, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        return [SIGTERM, SIGINT].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if shutdown.isRequested {
                    onSecondSignal()
                }
                shutdown.request()
            }
            source.resume()
            return source
        }
    }
}
