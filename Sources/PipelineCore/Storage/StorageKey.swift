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

/// Rules for bucket names: S3's, so a name that works on the file store also works on MinIO.
package enum BucketName {
    /// Checks that `name` is 3 to 63 characters of lowercase letters, digits, `.` and `-`, starting and ending with
    /// a letter or digit, with no `..`, and not shaped like an IP address.
    package static func validate(_ name: String) throws(StorageError) {
        guard (3...63).contains(name.utf8.count) else {
            throw .invalidBucket(name, reason: "a bucket name is 3 to 63 characters")
        }
        let allowed = name.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-")
        }
        guard allowed else {
            throw .invalidBucket(name, reason: "use lowercase letters, digits, '.' and '-'")
        }
        let edges = [name.utf8.first!, name.utf8.last!]
        guard edges.allSatisfy({ $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "-") }) else {
            throw .invalidBucket(name, reason: "a bucket name starts and ends with a letter or digit")
        }
        guard !name.contains("..") else {
            throw .invalidBucket(name, reason: "'..' is not allowed")
        }
        let parts = name.split(separator: ".")
        if parts.count == 4, parts.allSatisfy({ UInt8($0) != nil }) {
            throw .invalidBucket(name, reason: "a bucket name may not look like an IP address")
        }
    }
}
