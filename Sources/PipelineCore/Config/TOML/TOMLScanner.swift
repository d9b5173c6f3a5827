/// A cursor over the UTF-8 bytes of a TOML document that knows how to turn offsets into locations.
///
/// It is noncopyable so that debug builds borrow it instead of copying its arrays on every byte read.
struct TOMLScanner: ~Copyable {
    /// The ASCII bytes the grammar refers to by name.
    enum Byte {
        static let tab: UInt8 = 0x09
        static let lineFeed: UInt8 = 0x0A
        static let carriageReturn: UInt8 = 0x0D
        static let space: UInt8 = 0x20
        static let quote: UInt8 = 0x22
        static let hash: UInt8 = 0x23
        static let apostrophe: UInt8 = 0x27
        static let plus: UInt8 = 0x2B
        static let comma: UInt8 = 0x2C
        static let minus: UInt8 = 0x2D
        static let dot: UInt8 = 0x2E
        static let zero: UInt8 = 0x30
        static let nine: UInt8 = 0x39
        static let colon: UInt8 = 0x3A
        static let equals: UInt8 = 0x3D
        static let upperA: UInt8 = 0x41
        static let upperE: UInt8 = 0x45
        static let upperT: UInt8 = 0x54
        static let upperZ: UInt8 = 0x5A
        static let openBracket: UInt8 = 0x5B
        static let backslash: UInt8 = 0x5C
        static let closeBracket: UInt8 = 0x5D
        static let underscore: UInt8 = 0x5F
        static let lowerA: UInt8 = 0x61
        static let lowerB: UInt8 = 0x62
        static let lowerE: UInt8 = 0x65
        static let lowerO: UInt8 = 0x6F
        static let lowerX: UInt8 = 0x78
        static let lowerZ: UInt8 = 0x7A
        static let openBrace: UInt8 = 0x7B
        static let closeBrace: UInt8 = 0x7D
        static let delete: UInt8 = 0x7F
    }

    /// The document as UTF-8.
    let bytes: [UInt8]
    /// The source name used in locations.
    let file: String
    /// The offset of the next byte to read.
    var position: Int
    /// The offset of the first byte of every line, in order.
    private let lineStarts: [Int]

    /// Creates a scanner positioned after a leading byte order mark, if any.
    init(text: String, file: String) {
        let bytes = Array(text.utf8)
        let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        var lineStarts = [start]
        for offset in start..<bytes.count where bytes[offset] == Byte.lineFeed {
            lineStarts.append(offset + 1)
        }
        self.bytes = bytes
        self.file = file
        self.position = start
        self.lineStarts = lineStarts
    }

    /// Whether every byte has been read.
    var isAtEnd: Bool {
        self.position >= self.bytes.count
    }

    /// The byte `ahead` bytes after the current one, or 0 past the end.
    ///
    /// A NUL byte is never valid TOML, so code that must tell it from the end checks `isAtEnd` first.
    /// Returning a plain byte avoids generic `Optional` comparisons, which are slow in debug builds.
    func peek(_ ahead: Int = 0) -> UInt8 {
        let offset = self.position + ahead
        return offset < self.bytes.count ? self.bytes[offset] : 0
    }

    /// The byte at an offset, or 0 past the end (see `peek(_:)`).
    func byte(at offset: Int) -> UInt8 {
        offset < self.bytes.count ? self.bytes[offset] : 0
    }

    /// The location of a byte offset.
    func location(at offset: Int) -> TOMLLocation {
        // Binary search for the last line that starts at or before the offset.
        var low = 0
        var high = self.lineStarts.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if self.lineStarts[middle] <= offset {
                low = middle
            } else {
                high = middle - 1
            }
        }
        var column = 1
        var index = self.lineStarts[low]
        let end = min(offset, self.bytes.count)
        while index < end {
            if self.bytes[index] & 0xC0 != 0x80 {
                column += 1
            }
            index += 1
        }
        return TOMLLocation(file: self.file, line: low + 1, column: column)
    }

    /// An error located at a byte offset.
    func error(_ message: String, at offset: Int) -> TOMLError {
        TOMLError(location: self.location(at: offset), message: message)
    }

    /// An error located at the current position.
    func error(_ message: String) -> TOMLError {
        self.error(message, at: self.position)
    }

    /// The Unicode scalar that starts at an offset (the document is valid UTF-8).
    func scalar(at offset: Int) -> Unicode.Scalar? {
        guard offset < self.bytes.count else {
            return nil
        }
        let lead = self.bytes[offset]
        let length: Int
        var value: UInt32
        switch lead {
        case 0..<0x80: return Unicode.Scalar(lead)
        case 0xC0..<0xE0: (length, value) = (2, UInt32(lead & 0x1F))
        case 0xE0..<0xF0: (length, value) = (3, UInt32(lead & 0x0F))
        default: (length, value) = (4, UInt32(lead & 0x07))
        }
        for index in 1..<length {
            guard offset + index < self.bytes.count else {
                return nil
            }
            value = value << 6 | UInt32(self.bytes[offset + index] & 0x3F)
        }
        return Unicode.Scalar(value)
    }

    /// The character at an offset as a message shows it: `'x'` when printable, `U+XXXX` otherwise.
    func describeCharacter(at offset: Int) -> String {
        guard let scalar = self.scalar(at: offset) else {
            return "end of file"
        }
        if scalar.value == 0x0A {
            return "end of line"
        }
        return Self.describe(scalar)
    }

    /// A scalar as a message shows it: `'x'` when printable, `U+XXXX` otherwise.
    static func describe(_ scalar: Unicode.Scalar) -> String {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
            return "U+" + Self.hex(scalar.value, width: 4)
        case .spaceSeparator where scalar != " ":
            return "U+" + Self.hex(scalar.value, width: 4)
        default:
            return "'\(Character(scalar))'"
        }
    }

    /// An uppercase hexadecimal number padded with zeros to at least `width` digits.
    static func hex(_ value: UInt32, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Whether the bytes at the current position spell an ASCII word.
    func isAt(_ word: String) -> Bool {
        var offset = self.position
        for byte in word.utf8 {
            guard self.byte(at: offset) == byte else {
                return false
            }
            offset += 1
        }
        return true
    }

    /// Whether a byte is an ASCII decimal digit.
    static func isDigit(_ byte: UInt8) -> Bool {
        byte >= Byte.zero && byte <= Byte.nine
    }

    /// Whether a byte can appear in a bare key: `A-Z`, `a-z`, `0-9`, `-` or `_`.
    static func isBareKeyByte(_ byte: UInt8) -> Bool {
        (byte >= Byte.lowerA && byte <= Byte.lowerZ) || (byte >= Byte.upperA && byte <= Byte.upperZ)
            || (byte >= Byte.zero && byte <= Byte.nine) || byte == Byte.minus || byte == Byte.underscore
    }

    /// Skips the bytes of a bare key (or of a bare word where a value is expected).
    mutating func skipBareKey() {
        var offset = self.position
        while offset < self.bytes.count && Self.isBareKeyByte(self.bytes[offset]) {
            offset += 1
        }
        self.position = offset
    }

    /// Whether a byte is a control character that TOML forbids outside strings' escapes (tab is allowed).
    static func isForbiddenControl(_ byte: UInt8) -> Bool {
        (byte < Byte.space && byte != Byte.tab) || byte == Byte.delete
    }

    /// Whether the byte at an offset can end a scalar value: whitespace, a newline, a comment or a delimiter.
    func isValueTerminator(at offset: Int) -> Bool {
        guard offset < self.bytes.count else {
            return true
        }
        switch self.bytes[offset] {
        case Byte.space, Byte.tab, Byte.lineFeed, Byte.carriageReturn, Byte.hash, Byte.comma, Byte.closeBracket,
            Byte.closeBrace:
            return true
        default:
            return false
        }
    }

    /// Skips spaces and tabs.
    mutating func skipWhitespace() {
        var offset = self.position
        while offset < self.bytes.count, self.bytes[offset] == Byte.space || self.bytes[offset] == Byte.tab {
            offset += 1
        }
        self.position = offset
    }

    /// Skips a comment that starts at the current `#`, stopping before the line ending.
    mutating func skipComment() throws(TOMLError) {
        var offset = self.position + 1
        defer { self.position = offset }
        while offset < self.bytes.count {
            let byte = self.bytes[offset]
            if byte >= Byte.space && byte != Byte.delete || byte == Byte.tab {
                offset += 1
            } else if byte == Byte.lineFeed
                || (byte == Byte.carriageReturn && offset + 1 < self.bytes.count
                    && self.bytes[offset + 1] == Byte.lineFeed)
            {
                return
            } else {
                throw self.error("control character \(self.describeCharacter(at: offset)) in comment", at: offset)
            }
        }
    }

    /// Consumes a line ending (LF or CRLF) if there is one, returning whether there was.
    mutating func skipNewline() throws(TOMLError) -> Bool {
        switch self.peek() {
        case Byte.lineFeed:
            self.position += 1
            return true
        case Byte.carriageReturn:
            guard self.peek(1) == Byte.lineFeed else {
                throw self.error("carriage return not followed by line feed")
            }
            self.position += 2
            return true
        default:
            return false
        }
    }

    /// Skips whitespace, comments and line endings, as allowed between array elements.
    mutating func skipWhitespaceCommentsAndNewlines() throws(TOMLError) {
        while true {
            self.skipWhitespace()
            if self.peek() == Byte.hash {
                try self.skipComment()
            }
            guard try self.skipNewline() else {
                return
            }
        }
    }

    /// Consumes optional whitespace and comment and then a line ending or the end of the document.
    mutating func finishLine(after what: String) throws(TOMLError) {
        self.skipWhitespace()
        if self.peek() == Byte.hash {
            try self.skipComment()
        }
        if self.isAtEnd {
            return
        }
        guard try self.skipNewline() else {
            throw self.error("expected a newline after \(what), found \(self.describeCharacter(at: self.position))")
        }
    }
}
