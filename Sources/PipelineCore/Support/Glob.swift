/// Shell-style patterns for `--include`: `*` (any run within a path segment), `**` (any run, across segments),
/// `?` (one character) and literal text. A pattern without `/` matches the last path segment.
package enum Glob {
    /// Whether `path` matches `pattern`.
    package static func matches(_ pattern: String, _ path: String) -> Bool {
        let subject = pattern.contains("/") ? path : String(path.split(separator: "/").last ?? "")
        return self.match(Array(pattern.lowercased()), 0, Array(subject.lowercased()), 0)
    }

    /// Whether `path` matches any of `patterns`.
    package static func matchesAny(_ patterns: [String], _ path: String) -> Bool {
        patterns.contains { self.matches($0, path) }
    }

    private static func match(_ pattern: [Character], _ p: Int, _ text: [Character], _ t: Int) -> Bool {
        if p == pattern.count {
            return t == text.count
        }
        if pattern[p] == "*" {
            let crossesSegments = p + 1 < pattern.count && pattern[p + 1] == "*"
            let next = crossesSegments ? p + 2 : p + 1
            var index = t
            while true {
                if self.match(pattern, next, text, index) {
                    return true
                }
                guard index < text.count, crossesSegments || text[index] != "/" else { return false }
                index += 1
            }
        }
        guard t < text.count else { return false }
        if pattern[p] == "?" ? text[t] != "/" : pattern[p] == text[t] {
            return self.match(pattern, p + 1, text, t + 1)
        }
        return false
    }
}
