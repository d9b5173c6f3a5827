import Foundation

/// A fresh directory under the system temporary directory, for one test; the test removes it.
struct ScratchDirectory {
    let url: URL

    init() throws {
        self.url = FileManager.default.temporaryDirectory.appendingPathComponent("storage-test-\(UUID())")
        try FileManager.default.createDirectory(at: self.url, withIntermediateDirectories: true)
    }

    /// Wraps an existing directory.
    init(existing url: URL) {
        self.url = url
    }

    /// A path inside the directory.
    func path(_ relative: String) -> URL { self.url.appendingPathComponent(relative) }

    /// Every file and link below the directory, as relative paths, sorted.
    func contents() throws -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: self.url.path)
        var paths: [String] = []
        while let path = enumerator?.nextObject() as? String {
            paths.append(path)
        }
        return paths.sorted()
    }

    func remove() {
        try? FileManager.default.removeItem(at: self.url)
    }
}
