/// Rules for object keys, shared by every store so a key means the same thing everywhere.
package enum StorageKey {
    /// Checks that `key` is a safe relative path: non-empty, at most 1024 UTF-8 bytes, no absolute path,
    /// no `.` or `..` or empty segments, no backslashes and no control characters.
    package static func validate(_ key: String) throws(StorageError) {
        guard !key.isEmpty else { throw .invalidKey(key, reason: "empty") }
        guard key.utf8.count <= 1024 else { throw .invalidKey(key, reason: "longer than 1024 bytes") }
        guard !key.hasPrefix("/") else { throw .invalidKey(key, reason: "absolute paths are not keys") }
        guard !key.contains("\\") else { throw .invalidKey(key, reason: "backslashes are not allowed") }
        if key.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            throw .invalidKey(key, reason: "control characters are not allowed")
        }
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) {
            switch segment {
            case "": throw .invalidKey(key, reason: "empty path segment")
            case ".", "..": throw .invalidKey(key, reason: "'.' and '..' segments are not allowed")
            default: continue
            }
        }
    }

    /// Checks a listing prefix: like a key, but it may be empty or end with `/`.
    package static func validatePrefix(_ prefix: String) throws(StorageError) {
        var trimmed = prefix
        while trimmed.hasSuffix("/") {
            trimmed.removeLast()
        }
        if !trimmed.isEmpty {
            try self.validate(trimmed)
        }
    }
}
