internal import CNATS
import Foundation
import PipelineCore

/// Reading and acknowledging one delivered JetStream message, by handle.
enum NATSMessage {
    /// The message's body.
    static func body(of message: OpaquePointer?) -> Data {
        let length = Int(natsMsg_GetDataLength(message))
        guard length > 0, let bytes = natsMsg_GetData(message) else { return Data() }
        return Data(bytes: bytes, count: length)
    }

    /// The message's stream sequence and how many times JetStream has delivered it (this delivery included).
    static func metadata(of message: NATSHandle) throws(NATSError) -> (streamSequence: UInt64, delivered: Int) {
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        try check(natsMsg_GetMetaData(&meta, message.pointer), "natsMsg_GetMetaData")
        defer { jsMsgMetaData_Destroy(meta) }
        guard let meta else { return (0, 1) }
        return (meta.pointee.Sequence.Stream, Int(meta.pointee.NumDelivered))
    }

    /// Acknowledges the message, so the stream drops it, without waiting for the server to confirm: the ledger
    /// already holds the outcome, and a message whose ack was lost comes back after the ack wait to be disposed of
    /// by its record. (Waiting cost a round trip on every settle.)
    static func acknowledge(_ message: NATSHandle) throws(NATSError) {
        try check(natsMsg_Ack(message.pointer, nil), "natsMsg_Ack")
    }

    /// Asks for redelivery after `delay` (at once for zero), to the millisecond.
    static func reject(_ message: NATSHandle, redeliverAfter delay: Duration) throws(NATSError) {
        // nats.c takes the delay in milliseconds (and sends it to the server as nanoseconds).
        let milliseconds = Int64((max(delay.seconds, 0) * 1000).rounded(.up))
        if milliseconds <= 0 {
            try check(natsMsg_Nak(message.pointer, nil), "natsMsg_Nak")
        } else {
            try check(natsMsg_NakWithDelay(message.pointer, milliseconds, nil), "natsMsg_NakWithDelay")
        }
    }

    /// Tells the server the message is still being worked on (`+WPI`), restarting its ack wait.
    static func markInProgress(_ message: NATSHandle) throws(NATSError) {
        try check(natsMsg_InProgress(message.pointer, nil), "natsMsg_InProgress")
    }

    /// Stops redelivery for good (`+TERM`).
    static func terminate(_ message: NATSHandle) throws(NATSError) {
        try check(natsMsg_Term(message.pointer, nil), "natsMsg_Term")
    }

    /// Frees the client's copy of the message.
    static func destroy(_ message: NATSHandle) {
        natsMsg_Destroy(message.pointer)
    }
}

extension NATSMessage {
    /// The subject the message was published on.
    static func subject(of message: NATSHandle) -> String {
        natsMsg_GetSubject(message.pointer).map { String(cString: $0) } ?? ""
    }

    /// The first value of header `name`, or nil when the message has none.
    static func header(_ name: String, of message: NATSHandle) -> String? {
        var value: UnsafePointer<CChar>?
        guard natsMsgHeader_Get(message.pointer, name, &value) == NATS_OK, let value else { return nil }
        return String(cString: value)
    }
}
