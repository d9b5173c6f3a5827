internal import CNATS
import Foundation

/// A call into the NATS C client that failed: which call, the client's status, and its last error text.
package struct NATSError: Error, Equatable, CustomStringConvertible {
    /// The C function that failed, e.g. `kvStore_Update`.
    package var operation: String
    /// The client's status text, e.g. `Not Found`.
    package var status: String
    /// The client's detailed message for the failure, when it kept one.
    package var detail: String
    /// The JetStream API error code (e.g. 10071, wrong last sequence), or 0 when the server sent none.
    package var jetStreamCode: Int
    /// True when the failure means the thing asked for does not exist.
    package var isNotFound: Bool

    package var description: String {
        var text = "\(self.operation) failed: \(self.status)"
        if !self.detail.isEmpty && self.detail != self.status { text += " (\(self.detail))" }
        if self.jetStreamCode != 0 { text += " [JetStream error \(self.jetStreamCode)]" }
        return text
    }

    /// Whether retrying the same call later may succeed (a timeout or a lost connection, not a bad request).
    package var isRetryable: Bool {
        ["Timeout", "Connection Closed", "Connection Disconnected", "No Server Available", "Stale Connection"]
            .contains { self.status.localizedCaseInsensitiveContains($0) }
    }

    init(operation: String, status: natsStatus, code: jsErrCode = jsErrCode(0)) {
        self.operation = operation
        self.status = natsStatus_GetText(status).map { String(cString: $0) } ?? "status \(status.rawValue)"
        var last = NATS_OK
        self.detail = nats_GetLastError(&last).map { String(cString: $0) } ?? ""
        self.jetStreamCode = Int(code.rawValue)
        self.isNotFound = status == NATS_NOT_FOUND
    }
}

/// Throws a ``NATSError`` naming `operation` unless `status` is `NATS_OK`.
func check(_ status: natsStatus, _ operation: String, code: jsErrCode = jsErrCode(0)) throws(NATSError) {
    guard status == NATS_OK else { throw NATSError(operation: operation, status: status, code: code) }
}
