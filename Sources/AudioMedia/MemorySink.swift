/// A growable, seekable byte buffer that a custom `AVIOContext` writes into.
final class MemorySink {
    private(set) var bytes: [UInt8] = []
    private var position = 0

    /// Writes at the current position, overwriting or extending, as a file would.
    func write(_ data: UnsafeRawBufferPointer) {
        let end = self.position + data.count
        if end > self.bytes.count {
            self.bytes.append(contentsOf: repeatElement(0, count: end - self.bytes.count))
        }
        self.bytes.withUnsafeMutableBytes { target in
            target.baseAddress!.advanced(by: self.position).copyMemory(from: data.baseAddress!, byteCount: data.count)
        }
        self.position = end
    }

    /// Moves the write position like `lseek`; returns the new position, or -1 when it would be negative.
    func seek(to offset: Int64, whence: Int32) -> Int64 {
        let base: Int
        switch whence {
        case SEEK_SET: base = 0
        case SEEK_CUR: base = self.position
        case SEEK_END: base = self.bytes.count
        default: return -1
        }
        let target = base + Int(offset)
        guard target >= 0 else { return -1 }
        self.position = target
        return Int64(target)
    }
}

/// A byte buffer that a non-seekable custom `AVIOContext` appends to; the owner takes what has come so far.
final class StreamSink {
    private var pending: [UInt8] = []

    /// Appends muxed bytes.
    func write(_ data: UnsafeRawBufferPointer) {
        self.pending.append(contentsOf: data)
    }

    /// The bytes written since the last call.
    func take() -> [UInt8] {
        defer { self.pending.removeAll(keepingCapacity: true) }
        return self.pending
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
