import Foundation

/// Helpers shared by the TOML tests.
enum TOMLTestSupport {
    /// The directory holding `Package.swift`, found by walking up from this source file.
    static func packageRoot(from filePath: String = #filePath) -> URL? {
        var directory = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                return directory
            }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }

    /// The directory of the TensorZero configuration corpus.
    static func corpusDirectory() -> URL? {
        self.packageRoot()?.appendingPathComponent("fixtures/tensorzero-configs")
    }

    /// A date-time in the canonical form the corpus test's Python script prints.
    ///
    /// Dates stay `YYYY-MM-DD`; times become `HH:MM:SS.ffffff` (fraction padded or truncated to six digits,
    /// as `tomllib` truncates); offsets become `±HH:MM`, with `Z` and `-00:00` written `+00:00`.
    static func canonicalDateTime(_ text: String) -> String {
        var date = ""
        var rest = Substring(text)
        if text.count >= 10, text.dropFirst(4).first == "-" {
            date = String(text.prefix(10))
            let separatorAndTime = text.dropFirst(10)
            if separatorAndTime.isEmpty {
                return date
            }
            rest = separatorAndTime.dropFirst()
            date += "T"
        }
        let clock = rest.prefix(8)
        rest = rest.dropFirst(8)
        var fraction = ""
        if rest.first == "." {
            rest = rest.dropFirst()
            fraction = String(rest.prefix { $0.isASCII && $0.isNumber })
            rest = rest.dropFirst(fraction.count)
        }
        fraction = String((fraction + "000000").prefix(6))
        var offset = String(rest)
        if offset == "Z" || offset == "-00:00" {
            offset = "+00:00"
        }
        return date + clock + "." + fraction + offset
    }
}
