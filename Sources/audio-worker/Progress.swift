import Foundation
import Synchronization

/// Progress on standard error: one redrawn line on a terminal, plain lines (at most one a second) otherwise.
final class ProgressLine: Sendable {
    private let console: Console
    private let state = Mutex<(lastPrint: ContinuousClock.Instant?, width: Int)>((nil, 0))

    init(console: Console) {
        self.console = console
    }

    /// Shows `text`; `force` prints even within the rate limit (for the final line).
    func update(_ text: String, force: Bool = false) {
        let now = ContinuousClock.now
        let shouldPrint = self.state.withLock { state -> Bool in
            if !force, !self.console.stderrIsTerminal, let last = state.lastPrint, now - last < .seconds(1) {
                return false
            }
            state.lastPrint = now
            return true
        }
        guard shouldPrint else { return }
        if self.console.stderrIsTerminal {
            let padded = self.state.withLock { state -> String in
                let padding = max(state.width - text.count, 0)
                state.width = text.count
                return text + String(repeating: " ", count: padding)
            }
            self.console.diagnosticFragment("\r" + padded + (force ? "\n" : ""))
        } else {
            self.console.diagnostic(text)
        }
    }
}
