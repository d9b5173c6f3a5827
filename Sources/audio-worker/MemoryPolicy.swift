#if canImport(Glibc)
    import Glibc
#endif

/// How a long-running worker asks the C allocator to behave.
enum MemoryPolicy {
    /// Buffers of at least this size get their own mapping, returned to the system when freed.
    static let mappedBufferBytes: Int32 = 256 << 10

    /// `M_MMAP_THRESHOLD` of `<malloc.h>`, which the Glibc module does not import.
    private static let mmapThresholdParameter: Int32 = -3

    /// Fixes glibc's threshold for mapped allocations. By default it rises to the size of each large block freed
    /// (up to 32 MB), after which audio buffers (a piece of speech, a chunk of samples) come from the heaps of the
    /// threads that made them and stay resident after they are freed: a server that has handled a few long jobs
    /// holds tens of megabytes it does not use. Fixed, every large buffer is mapped and unmapped, and resident
    /// memory follows what is live.
    static func returnLargeBuffersToTheSystem() {
        #if canImport(Glibc)
            // `mallopt` is not in the Glibc module either; glibc exports it, so it is looked up by name.
            typealias MallOpt = @convention(c) (Int32, Int32) -> Int32
            guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
            _ = unsafeBitCast(symbol, to: MallOpt.self)(Self.mmapThresholdParameter, Self.mappedBufferBytes)
        #endif
    }
}
