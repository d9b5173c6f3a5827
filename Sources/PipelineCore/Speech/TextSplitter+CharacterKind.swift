extension TextSplitter {
    /// What a character is to the splitter.
    ///
    /// Only a character of one scalar is punctuation: `.` with a combining mark on it ends nothing.
    enum CharacterKind: UInt8 {
        case space, newline
        /// `.`, which has most exceptions.
        case period
        /// `…`.
        case ellipsis
        /// `!`, `?` and their relatives, which end a sentence unless a lowercase word follows.
        case strongTerminator
        /// `。`, `！`, `？` and `｡`, which end a sentence with no space after them.
        case cjkTerminator
        /// `,`, `;` and `:`, which end a clause when a space follows.
        case clausePunctuation
        /// `—`, `–` and `―`, which end a clause when a space follows.
        case dash
        /// `-`, a dash only between spaces.
        case hyphen
        /// `，`, `、`, `；` and `：`, which end a clause with no space after them.
        case cjkClause
        /// `"` and `'`, which open or close depending on where they stand.
        case quote
        case opener, closer, cjkOpener, cjkCloser
        /// Han, kana and fullwidth letters, between which a piece may end; fullwidth digits are not, as in `３.１４`.
        case cjkLetter
        /// Small kana, the prolonged sound mark and iteration marks, which may not begin a piece.
        case cjkNonInitial
        case other

        /// The kind of `character`.
        init(_ character: Character) {
            if let ascii = character.asciiValue {
                self = Self(Unicode.Scalar(ascii))
                return
            }
            let scalars = character.unicodeScalars
            guard let first = scalars.first else {
                self = .other
                return
            }
            let kind = Self(first)
            if scalars.index(after: scalars.startIndex) == scalars.endIndex {
                self = kind
            } else {
                // Marks on a letter keep it a letter; marks on punctuation make it something else.
                self = kind == .cjkLetter || kind == .cjkNonInitial ? kind : .other
            }
        }

        /// The kind of a character made of `scalar` alone.
        init(_ scalar: Unicode.Scalar) {
            switch scalar.value {
            case 0x20: self = .space
            case 0x0A: self = .newline
            case 0x2E: self = .period
            case 0x2026: self = .ellipsis
            case 0x21, 0x3F, 0x203C, 0x2047...0x2049, 0x061F, 0x0964, 0x0965: self = .strongTerminator
            case 0x3002, 0xFF01, 0xFF1F, 0xFF61, 0xFE12: self = .cjkTerminator
            case 0x2C, 0x3B, 0x3A, 0x060C, 0x061B: self = .clausePunctuation
            case 0x2013...0x2015: self = .dash
            case 0x2D: self = .hyphen
            case 0xFF0C, 0x3001, 0xFF1B, 0xFF1A, 0xFF64, 0xFE50, 0xFE51, 0xFE54, 0xFE55: self = .cjkClause
            case 0x22, 0x27, 0xFF02, 0xFF07: self = .quote
            case 0x28, 0x5B, 0x7B, 0x201C, 0x2018, 0x201E, 0x201A, 0xAB, 0x2039, 0xBF, 0xA1: self = .opener
            case 0x29, 0x5D, 0x7D, 0x201D, 0x2019, 0xBB, 0x203A: self = .closer
            case 0x3008, 0x300A, 0x300C, 0x300E, 0x3010, 0x3014, 0x3016, 0x3018, 0x301A, 0x301D, 0xFF08, 0xFF3B,
                0xFF5B, 0xFF62:
                self = .cjkOpener
            case 0x3009, 0x300B, 0x300D, 0x300F, 0x3011, 0x3015, 0x3017, 0x3019, 0x301B, 0x301E, 0x301F, 0xFF09,
                0xFF3D, 0xFF5D, 0xFF63:
                self = .cjkCloser
            case 0x3041, 0x3043, 0x3045, 0x3047, 0x3049, 0x3063, 0x3083, 0x3085, 0x3087, 0x308E, 0x3095, 0x3096,
                0x30A1, 0x30A3, 0x30A5, 0x30A7, 0x30A9, 0x30C3, 0x30E3, 0x30E5, 0x30E7, 0x30EE, 0x30F5, 0x30F6,
                0x31F0...0x31FF, 0x30FC, 0x3005, 0x303B, 0x309D, 0x309E, 0x30FB, 0x30FD, 0x30FE, 0xFF67...0xFF70:
                self = .cjkNonInitial
            case 0x2E80...0x2FDF, 0x3006, 0x3007, 0x3021...0x3029, 0x3040...0x30FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
                0xF900...0xFAFF, 0xFF21...0xFF3A, 0xFF41...0xFF5A, 0xFF66...0xFF9F,
                0x20000...0x3FFFF:
                self = .cjkLetter
            default: self = .other
            }
        }

        /// Whether this ends or belongs to a run that ends a sentence.
        var isTerminator: Bool {
            switch self {
            case .period, .ellipsis, .strongTerminator, .cjkTerminator: true
            default: false
            }
        }

        /// Whether this may close a quotation or bracket after a terminator.
        var isClosing: Bool { self == .closer || self == .cjkCloser || self == .quote }

        /// Whether this may open a quotation or bracket before a word.
        var isOpening: Bool { self == .opener || self == .cjkOpener || self == .quote }

        /// Whether a CJK word may end after this, with no space.
        var endsCJKWord: Bool {
            switch self {
            case .cjkLetter, .cjkNonInitial, .cjkCloser, .cjkTerminator, .cjkClause: true
            default: false
            }
        }

        /// Whether a piece may begin at this after a CJK word, with no space.
        var startsCJKWord: Bool { self == .cjkLetter || self == .cjkOpener }
    }
}
