extension TOMLScanner {
    /// Whether the next three bytes are the given quote character, opening or closing a multi-line string.
    func isTripleQuote(_ quote: UInt8) -> Bool {
        self.peek() == quote && self.peek(1) == quote && self.peek(2) == quote
    }

    /// Scans a string of any of the four forms, starting at its opening quote.
    mutating func scanString() throws(TOMLError) -> String {
        let quote = self.peek()
        if self.isTripleQuote(quote) {
            return try self.scanMultilineString(quote: quote)
        }
        return quote == Byte.quote ? try self.scanBasicString() : try self.scanLiteralString()
    }

    /// Scans a single-line basic string (`"..."`), resolving escapes.
    mutating func scanBasicString() throws(TOMLError) -> String {
        self.position += 1
        var output: [UInt8] = []
        var runStart = self.position
        while self.position < self.bytes.count {
            let byte = self.bytes[self.position]
            if byte >= Byte.space && byte != Byte.quote && byte != Byte.backslash && byte != Byte.delete
                || byte == Byte.tab
            {
                self.position += 1
            } else if byte == Byte.quote {
                output.append(contentsOf: self.bytes[runStart..<self.position])
                self.position += 1
                return String(decoding: output, as: UTF8.self)
            } else if byte == Byte.backslash {
                output.append(contentsOf: self.bytes[runStart..<self.position])
                try self.scanEscape(into: &output)
                runStart = self.position
            } else {
                try self.rejectInSingleLineString(byte)
            }
        }
        throw self.error("unterminated string")
    }

    /// Scans a single-line literal string (`'...'`), which has no escapes.
    mutating func scanLiteralString() throws(TOMLError) -> String {
        self.position += 1
        let start = self.position
        while self.position < self.bytes.count {
            let byte = self.bytes[self.position]
            if byte >= Byte.space && byte != Byte.apostrophe && byte != Byte.delete || byte == Byte.tab {
                self.position += 1
            } else if byte == Byte.apostrophe {
                let text = String(decoding: self.bytes[start..<self.position], as: UTF8.self)
                self.position += 1
                return text
            } else {
                try self.rejectInSingleLineString(byte)
            }
        }
        throw self.error("unterminated string")
    }

    /// Throws for a line ending or control character inside a single-line string.
    private func rejectInSingleLineString(_ byte: UInt8) throws(TOMLError) {
        if byte == Byte.lineFeed || (byte == Byte.carriageReturn && self.peek(1) == Byte.lineFeed) {
            throw self.error("unterminated string")
        }
        throw self.error("control character \(self.describeCharacter(at: self.position)) in string")
    }

    /// Scans a multi-line basic (`"""`) or literal (`'''`) string, starting at its opening delimiter.
    ///
    /// A newline right after the opening delimiter is dropped, CRLF becomes LF, and in basic strings a
    /// line-ending backslash removes itself and all whitespace and newlines up to the next other character.
    mutating func scanMultilineString(quote: UInt8) throws(TOMLError) -> String {
        let isBasic = quote == Byte.quote
        self.position += 3
        if self.peek() == Byte.lineFeed {
            self.position += 1
        } else if self.peek() == Byte.carriageReturn && self.peek(1) == Byte.lineFeed {
            self.position += 2
        }
        var output: [UInt8] = []
        var runStart = self.position
        while self.position < self.bytes.count {
            let byte = self.bytes[self.position]
            if byte >= Byte.space && byte != quote && byte != Byte.backslash && byte != Byte.delete
                || byte == Byte.tab || byte == Byte.lineFeed || (byte == Byte.backslash && !isBasic)
            {
                self.position += 1
            } else if byte == quote {
                var quotes = 1
                while self.peek(quotes) == quote {
                    quotes += 1
                }
                guard quotes >= 3 else {
                    self.position += quotes
                    continue
                }
                // Up to two quotes right before the closing delimiter belong to the content; a sixth
                // quote is left for the caller to reject as text after the value.
                let content = min(quotes - 3, 2)
                output.append(contentsOf: self.bytes[runStart..<(self.position + content)])
                self.position += content + 3
                return String(decoding: output, as: UTF8.self)
            } else if byte == Byte.backslash {
                output.append(contentsOf: self.bytes[runStart..<self.position])
                if !self.skipLineEndingBackslash() {
                    try self.scanEscape(into: &output)
                }
                runStart = self.position
            } else if byte == Byte.carriageReturn && self.peek(1) == Byte.lineFeed {
                output.append(contentsOf: self.bytes[runStart..<self.position])
                output.append(Byte.lineFeed)
                self.position += 2
                runStart = self.position
            } else {
                throw self.error("control character \(self.describeCharacter(at: self.position)) in string")
            }
        }
        throw self.error("unterminated multi-line string")
    }

    /// Skips a backslash that ends a line plus the whitespace and newlines after it, returning whether it did.
    private mutating func skipLineEndingBackslash() -> Bool {
        var offset = self.position + 1
        while self.byte(at: offset) == Byte.space || self.byte(at: offset) == Byte.tab {
            offset += 1
        }
        let isLineEnd =
            self.byte(at: offset) == Byte.lineFeed
            || (self.byte(at: offset) == Byte.carriageReturn && self.byte(at: offset + 1) == Byte.lineFeed)
        guard isLineEnd else {
            return false
        }
        while offset < self.bytes.count {
            let byte = self.bytes[offset]
            if byte == Byte.space || byte == Byte.tab || byte == Byte.lineFeed {
                offset += 1
            } else if byte == Byte.carriageReturn && self.byte(at: offset + 1) == Byte.lineFeed {
                offset += 2
            } else {
                break
            }
        }
        self.position = offset
        return true
    }

    /// Scans an escape sequence starting at the current backslash and appends its UTF-8 encoding.
    private mutating func scanEscape(into output: inout [UInt8]) throws(TOMLError) {
        let start = self.position
        guard start + 1 < self.bytes.count else {
            throw self.error("unterminated string", at: start + 1)
        }
        let letter = self.bytes[start + 1]
        let simple: UInt8? =
            switch letter {
            case UInt8(ascii: "b"): 0x08
            case UInt8(ascii: "t"): UInt8(ascii: "\t")
            case UInt8(ascii: "n"): UInt8(ascii: "\n")
            case UInt8(ascii: "f"): 0x0C
            case UInt8(ascii: "r"): UInt8(ascii: "\r")
            case Byte.quote: Byte.quote
            case Byte.backslash: Byte.backslash
            default: nil
            }
        if let simple {
            output.append(simple)
            self.position += 2
            return
        }
        let digitCount: Int
        switch letter {
        case UInt8(ascii: "u"): digitCount = 4
        case UInt8(ascii: "U"): digitCount = 8
        default:
            guard let scalar = self.scalar(at: start + 1), scalar.value >= 0x20, scalar.value != 0x7F else {
                throw self.error(
                    "invalid escape: backslash followed by \(self.describeCharacter(at: start + 1))", at: start)
            }
            throw self.error("invalid escape '\\\(Character(scalar))'", at: start)
        }
        let kind = digitCount == 4 ? "\\u" : "\\U"
        var value: UInt32 = 0
        for index in 0..<digitCount {
            guard let digit = Self.hexDigitValue(self.byte(at: start + 2 + index)) else {
                throw self.error("expected \(digitCount) hexadecimal digits after '\(kind)'", at: start + 2 + index)
            }
            value = value << 4 | UInt32(digit)
        }
        guard let scalar = Unicode.Scalar(value) else {
            let written = String(decoding: self.bytes[(start + 2)..<(start + 2 + digitCount)], as: UTF8.self)
            throw self.error("escape '\(kind)\(written)' is not a Unicode scalar value", at: start)
        }
        output.append(contentsOf: String(scalar).utf8)
        self.position = start + 2 + digitCount
    }

    /// The value of an ASCII hexadecimal digit, or `nil` for any other byte.
    static func hexDigitValue(_ byte: UInt8) -> UInt8? {
        if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
            return byte - UInt8(ascii: "0")
        }
        if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F") {
            return byte - UInt8(ascii: "A") + 10
        }
        if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f") {
            return byte - UInt8(ascii: "a") + 10
        }
        return nil
    }
}
