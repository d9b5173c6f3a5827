/// An owned, growable raw byte buffer for converted samples that libav writes into.
struct ScratchBuffer: ~Copyable {
    private(set) var pointer: UnsafeMutableRawPointer
    private(set) var capacity: Int

    init(capacity: Int = 16 * 1024) {
        self.capacity = capacity
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
    }

    deinit { self.pointer.deallocate() }

    /// Grows the buffer to at least `byteCount`, discarding its contents.
    mutating func reserve(_ byteCount: Int) {
        guard byteCount > self.capacity else { return }
        self.pointer.deallocate()
        self.capacity = max(byteCount, self.capacity * 2)
        self.pointer = UnsafeMutableRawPointer.allocate(byteCount: self.capacity, alignment: 64)
    }
}
