import Foundation

/// Files for the storage tests, made on disk in pieces so that a large one never sits in memory.
enum Fixture {
    /// A new file of `bytes` bytes whose every MiB differs (a part sent twice or out of order shows).
    static func file(bytes: Int) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("s3-fixture-\(UUID()).bin")
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var written = 0
        while written < bytes {
            let count = min(1 << 20, bytes - written)
            var block = [UInt8](repeating: 0, count: count)
            for index in 0..<count {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                block[index] = UInt8(truncatingIfNeeded: state)
            }
            try handle.write(contentsOf: block)
            written += count
        }
        return url
    }

    /// The bytes of a downloaded file, which is then removed.
    static func contents(_ url: URL) throws -> Data {
        defer { self.remove(url) }
        return try Data(contentsOf: url)
    }

    /// Whether two files hold the same bytes, compared a MiB at a time.
    static func sameBytes(_ first: URL, _ second: URL) throws -> Bool {
        let left = try FileHandle(forReadingFrom: first)
        let right = try FileHandle(forReadingFrom: second)
        defer {
            try? left.close()
            try? right.close()
        }
        while true {
            let a = try left.read(upToCount: 1 << 20) ?? Data()
            let b = try right.read(upToCount: 1 << 20) ?? Data()
            guard a == b else { return false }
            if a.isEmpty { return true }
        }
    }

    static func remove(_ urls: URL...) {
        for url in urls {
            try? FileManager.default.removeItem(at: url)
        }
    }
}

/// The process's resident memory, from `/proc/self/status`.
enum Memory {
    /// A field of `/proc/self/status` in KiB, such as `VmHWM` (the peak resident set) or `VmRSS`.
    static func kilobytes(_ field: String) -> Int64 {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int64(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
                ?? 0
        }
        return 0
    }

    /// How far the peak resident set rose above the resident set while `body` ran, in bytes: the least of up to
    /// `attempts` runs, stopping at the first under `expected`.
    ///
    /// The peak is reset before each run (writing 5 to `/proc/self/clear_refs`), so an earlier test's peak does not
    /// count. Other tests of the process allocate too; a run they disturb is repeated, while code that holds what it
    /// moves in memory grows every time.
    static func peakGrowth(
        below expected: Int64, attempts: Int = 3, _ body: () async throws -> Void
    ) async throws -> Int64 {
        var least = Int64.max
        for _ in 0..<attempts where least >= expected {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "/proc/self/clear_refs"))
            try handle.write(contentsOf: Data("5".utf8))
            try handle.close()
            let before = self.kilobytes("VmRSS")
            try await body()
            least = min(least, (self.kilobytes("VmHWM") - before) << 10)
        }
        return least
    }
}
