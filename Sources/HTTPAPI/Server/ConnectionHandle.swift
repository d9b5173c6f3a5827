/// libmicrohttpd's `MHD_Connection *` as a handle: like a file descriptor, a name for something libmicrohttpd owns.
///
/// Which calls are safe from which thread is libmicrohttpd's rule (suspend on its own thread, resume from any, only
/// while suspended); ``Exchange`` makes those calls under its lock, and nothing else uses the handle.
struct ConnectionHandle: Sendable {
    private let address: UInt

    init(_ connection: OpaquePointer) {
        self.address = UInt(bitPattern: connection)
    }

    var pointer: OpaquePointer { OpaquePointer(bitPattern: self.address)! }
}
