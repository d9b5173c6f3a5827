/// Guards against Whisper's repetition loops: a compression ratio, and collapsing of repeated word n-grams.
package enum TextRepetition {
    /// How compressible `text` is: its UTF-8 length over the cost of an LZ77 encoding (a literal costs one byte,
    /// a back-reference of four or more bytes costs three). Ordinary speech scores about 1–1.8; a text that
    /// loops ("thank you thank you thank you ...") scores far above Whisper's 2.4 threshold, as with gzip.
    package static func compressionRatio(_ text: String) -> Double {
        let bytes = Array(text.utf8)
        guard bytes.count >= 8 else { return 1 }
        var positions: [UInt32: [Int]] = [:]
        var cost = 0
        var index = 0
        func key(_ at: Int) -> UInt32 {
            UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
        }
        while index < bytes.count {
            var bestLength = 0
            if index + 4 <= bytes.count {
                for candidate in positions[key(index)] ?? [] {
                    var length = 0
                    while index + length < bytes.count && bytes[candidate + length] == bytes[index + length] {
                        length += 1
                    }
                    bestLength = max(bestLength, length)
                }
            }
            let step = bestLength >= 4 ? bestLength : 1
            cost += bestLength >= 4 ? 3 : 1
            for position in index..<(index + step) where position + 4 <= bytes.count {
                positions[key(position), default: []].append(position)
                if positions[key(position)]!.count > 8 {
                    positions[key(position)]!.removeFirst()
                }
            }
            index += step
        }
        return Double(bytes.count) / Double(max(cost, 1))
    }

    /// `words` with every run of a repeated n-gram (n ≤ 8) collapsed to one occurrence: three or more repeats
    /// for phrases, four or more for single words (a doubled word can be real speech).
    package static func collapseRepeats(_ words: [String]) -> [String] {
        var result = words
        for size in stride(from: 8, through: 1, by: -1) {
            let minimumRepeats = size == 1 ? 4 : 3
            var index = 0
            var collapsed: [String] = []
            while index < result.count {
                var repeats = 1
                if index + size <= result.count {
                    let gram = result[index..<(index + size)].map(Self.normalized)
                    while index + (repeats + 1) * size <= result.count
                        && result[(index + repeats * size)..<(index + (repeats + 1) * size)].map(Self.normalized)
                            == gram
                    {
                        repeats += 1
                    }
                }
                if repeats >= minimumRepeats {
                    collapsed += result[index..<(index + size)]
                    index += repeats * size
                } else {
                    collapsed.append(result[index])
                    index += 1
                }
            }
            result = collapsed
        }
        return result
    }

    /// A word lowercased without surrounding punctuation, for comparisons.
    package static func normalized(_ word: String) -> String {
        String(word.lowercased().unicodeScalars.filter { !CharacterSetLite.isPunctuation($0) }.map(Character.init))
    }
}

/// Punctuation tests without Foundation's CharacterSet, for hot loops.
enum CharacterSetLite {
    static func isPunctuation(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation,
            .finalPunctuation, .otherPunctuation:
            return true
        default:
            return false
        }
    }
}
