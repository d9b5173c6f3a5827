import PipelineCore
import Testing

struct StorageKeyTests {
    @Test(arguments: [
        "a", "media/2024/01/video-1.mp3", "transcripts/ключ/ünïcode.json", ".hidden", "a..b", "..a", "a/.b/c",
        "with space/and:colon", String(repeating: "k", count: 1024),
    ])
    func safeRelativePathsAreKeys(_ key: String) throws {
        try StorageKey.validate(key)
    }

    @Test(arguments: [
        ("", "empty"),
        ("..", "'.' and '..' segments are not allowed"),
        ("a/../b", "'.' and '..' segments are not allowed"),
        ("./a", "'.' and '..' segments are not allowed"),
        ("a/.", "'.' and '..' segments are not allowed"),
        ("/abs", "absolute paths are not keys"),
        ("a//b", "empty path segment"),
        ("a/", "empty path segment"),
        ("a\\b", "backslashes are not allowed"),
        ("a\u{0}b", "control characters are not allowed"),
        ("a\nb", "control characters are not allowed"),
        ("a\u{7F}", "control characters are not allowed"),
        (String(repeating: "x", count: 2000), "longer than 1024 bytes"),
        (String(repeating: "é", count: 513), "longer than 1024 bytes"),
    ])
    func unsafeKeysAreRefusedWithTheirReason(key: String, reason: String) {
        #expect(throws: StorageError.invalidKey(key, reason: reason)) {
            try StorageKey.validate(key)
        }
    }

    @Test(arguments: ["", "a", "a/", "a/b", "media/2024/"])
    func listingPrefixesMayBeEmptyOrEndInASlash(_ prefix: String) throws {
        try StorageKey.validatePrefix(prefix)
    }

    @Test(arguments: ["../", "/a", "a/../", "a//b/", "a\\"])
    func unsafeListingPrefixesAreRefused(_ prefix: String) {
        #expect(throws: StorageError.self) {
            try StorageKey.validatePrefix(prefix)
        }
    }
}
