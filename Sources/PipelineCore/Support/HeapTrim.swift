import Foundation

/// Keeps a long-running worker's heap from creeping up though nothing leaks.
///
/// A job decodes hours of audio through FFmpeg and Swift on many threads, and glibc gives threads arenas of their own
/// (up to eight per core) and keeps what each thread frees in its arena. The soak trial of issue 12 (sixteen long
/// jobs through one `serve`) measured the growth from the first hour to the last: +2.8 MB as glibc does it, +1.6 MB
/// with a trim after every job, +1.4 MB with the trim and four arenas.
package enum HeapTrim {
    /// Returns every arena's free pages to the system (glibc's `malloc_trim(0)`); a no-op elsewhere. Called when a
    /// job ends.
    package static func releaseFreeMemory() {
        #if os(Linux)
            _ = glibcMallocTrim(0)
        #endif
    }

    /// Caps glibc's arenas at twice the cores (at least four) instead of eight per core, unless `MALLOC_ARENA_MAX`
    /// says otherwise; call once at start, before the worker's threads allocate.
    package static func limitArenas(environment: [String: String] = ProcessInfo.processInfo.environment) {
        #if os(Linux)
            guard environment["MALLOC_ARENA_MAX"] == nil else { return }
            _ = glibcMallopt(-8 /* M_ARENA_MAX */, Int32(max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)))
        #endif
    }
}

#if os(Linux)
    // <malloc.h> is not part of Swift's Glibc module; the symbols are glibc's own.
    @_silgen_name("malloc_trim")
    private func glibcMallocTrim(_ pad: Int) -> Int32

    @_silgen_name("mallopt")
    private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
#endif
