/// Returns the heap's free pages to the system, where the C library can.
///
/// A job decodes hours of audio through FFmpeg and Swift on many threads, and glibc keeps each thread's freed memory
/// in that thread's arena: without a trim, a long-running worker's resident memory creeps up job after job though
/// nothing leaks (the soak trial of issue 12). Called when a job ends.
package enum HeapTrim {
    /// Trims every arena (glibc's `malloc_trim(0)`); a no-op elsewhere.
    package static func releaseFreeMemory() {
        #if os(Linux)
            _ = glibcMallocTrim(0)
        #endif
    }
}

#if os(Linux)
    // <malloc.h> is not part of Swift's Glibc module; the symbol is glibc's own.
    @_silgen_name("malloc_trim")
    private func glibcMallocTrim(_ pad: Int) -> Int32
#endif
