/// The address of one nats.c object (connection, context, bucket, subscription or message).
///
/// nats.c objects lock themselves, so a handle may be used from any thread; it does not own the object. Each owner
/// (``NATSConnection``, ``NATSSubscription``, ``NATSBucket``, the queue's lease registry) frees what it holds.
struct NATSHandle: Sendable, Hashable {
    private let address: UInt

    /// Wraps a pointer the client handed out.
    init(_ pointer: OpaquePointer) {
        self.address = UInt(bitPattern: pointer)
    }

    /// The object's pointer, for passing back to the client.
    var pointer: OpaquePointer {
        // A handle is only made from a non-null pointer, so the address is never zero.
        OpaquePointer(bitPattern: self.address)!
    }
}
