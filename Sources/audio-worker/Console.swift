import Foundation
import PipelineCore

/// The process's standard output (results) and standard error (diagnostics and progress).
struct Console: Sendable {
    /// Whether standard error is a terminal, so progress may redraw one line.
    let stderrIsTerminal = isatty(STDERR_FILENO) != 0

    /// Writes one line of machine-readable output.
    func output(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Writes `value` as JSON on standard output.
    func outputJSON(_ value: some Encodable, pretty: Bool = false) throws {
        self.output(try JSONOutput.string(value, pretty: pretty))
    }

    /// Writes one diagnostic line on standard error.
    func diagnostic(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Writes raw text on standard error, for progress that redraws itself.
    func diagnosticFragment(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
