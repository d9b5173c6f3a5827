extension TextSplitter {
    /// The text that pieces and their ranges refer to: `text` with each whitespace run made one space, or `"\n\n"`
    /// where the run holds a blank line (two line breaks or more, or U+2029), control and format characters and
    /// combining marks with no letter to carry them removed, and nothing at either end.
    ///
    /// Normalizing a normalized text changes nothing.
    package static func normalize(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        var inWhitespace = false
        var lineBreaks = 0
        for character in text {
            switch Self.role(of: character) {
            case .spoken:
                if inWhitespace, !result.isEmpty {
                    result += lineBreaks >= 2 ? "\n\n" : " "
                }
                inWhitespace = false
                lineBreaks = 0
                result.append(character)
            case .whitespace(let breaks):
                inWhitespace = true
                lineBreaks += breaks
            case .dropped:
                break
            }
        }
        return result
    }

    /// What normalizing does with a character.
    private enum NormalizedRole {
        /// Kept as it is.
        case spoken
        /// Part of a whitespace run, with this many line breaks.
        case whitespace(lineBreaks: Int)
        /// Removed: a control or format character, or a mark with no letter to carry it.
        case dropped
    }

    /// What normalizing does with `character`.
    private static func role(of character: Character) -> NormalizedRole {
        // Most text is ASCII, which needs no Unicode property look-ups.
        if let ascii = character.asciiValue {
            switch ascii {
            case 0x20, 0x09: return .whitespace(lineBreaks: 0)
            case 0x0A...0x0D: return .whitespace(lineBreaks: 1)
            case 0x00...0x1F, 0x7F: return .dropped
            default: return .spoken
            }
        }
        let scalars = character.unicodeScalars
        guard let first = scalars.first else { return .dropped }
        if first.properties.isWhitespace {
            // Marks on a space would join the space to the next word, and they have nothing to mark.
            return .whitespace(lineBreaks: Self.lineBreaks(in: character))
        }
        // A control character is dropped without ending a word: a zero-width space or soft hyphen sits inside one.
        // A mark left alone by it, or at the start, has no letter to go on.
        if Self.extendsPrevious(first) || scalars.allSatisfy(Self.isInvisibleControl) { return .dropped }
        return .spoken
    }

    /// How many line breaks a whitespace character makes; a paragraph separator makes a blank line by itself.
    private static func lineBreaks(in character: Character) -> Int {
        var count = 0
        for scalar in character.unicodeScalars {
            switch scalar.value {
            case 0x0A...0x0D, 0x85, 0x2028: count += 1
            case 0x2029: count += 2
            default: break
            }
        }
        return count
    }

    /// Whether `scalar` joins the character before it (a combining mark or an emoji modifier), so it can only begin
    /// a character when nothing precedes it.
    private static func extendsPrevious(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: true
        default: scalar.properties.isEmojiModifier || (0xFF9E...0xFF9F).contains(scalar.value)
        }
    }

    /// Whether `scalar` is a control or format character, which is neither seen nor spoken.
    private static func isInvisibleControl(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format: true
        default: false
        }
    }
}
