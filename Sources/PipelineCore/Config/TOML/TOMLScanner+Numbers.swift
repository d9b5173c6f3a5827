extension TOMLScanner {
    /// Scans a decimal, hexadecimal, octal or binary integer, or a float, starting at a sign or digit.
    mutating func scanNumber() throws(TOMLError) -> TOMLValue {
        let start = self.position
        var isNegative = false
        let sign = self.peek()
        if sign == Byte.plus || sign == Byte.minus {
            isNegative = sign == Byte.minus
            self.position += 1
            if self.peek() == UInt8(ascii: "i") || self.peek() == UInt8(ascii: "n") {
                return try self.scanSpecialFloat(isNegative: isNegative, start: start)
            }
        }
        if self.peek() == Byte.zero, let radix = Self.radix(forPrefix: self.peek(1)) {
            guard self.position == start else {
                throw self.error("hexadecimal, octal and binary integers cannot have a sign", at: start)
            }
            return try self.scanRadixInteger(radix: radix)
        }
        let integerStart = self.position
        try self.scanDigits(expected: "a digit") { Self.isDigit($0) }
        if self.bytes[integerStart] == Byte.zero && self.position - integerStart > 1 {
            throw self.error("leading zeros are not allowed", at: integerStart)
        }
        var isFloat = false
        if self.peek() == Byte.dot {
            self.position += 1
            try self.scanDigits(expected: "a digit after '.'") { Self.isDigit($0) }
            isFloat = true
        }
        if self.peek() == Byte.lowerE || self.peek() == Byte.upperE {
            self.position += 1
            if self.peek() == Byte.plus || self.peek() == Byte.minus {
                self.position += 1
            }
            try self.scanDigits(expected: "a digit in the exponent") { Self.isDigit($0) }
            isFloat = true
        }
        try self.checkTerminator(after: "number")
        if isFloat {
            let text = String(
                decoding: self.bytes[start..<self.position].filter { $0 != Byte.underscore }, as: UTF8.self)
            guard let value = Double(text) else {
                throw self.error("invalid float", at: start)
            }
            return .float(value)
        }
        // Accumulating downwards reaches Int64.min, whose magnitude does not fit in an Int64.
        var value: Int64 = 0
        var overflow = false
        for byte in self.bytes[integerStart..<self.position] where byte != Byte.underscore {
            let scaled = value.multipliedReportingOverflow(by: 10)
            let next = scaled.partialValue.subtractingReportingOverflow(Int64(byte - Byte.zero))
            overflow = overflow || scaled.overflow || next.overflow
            value = next.partialValue
        }
        if !isNegative {
            if value == .min {
                overflow = true
            } else {
                value = -value
            }
        }
        guard !overflow else {
            let written = String(decoding: self.bytes[start..<self.position], as: UTF8.self)
            throw self.error("integer \(written) is out of the 64-bit range", at: start)
        }
        return .integer(value)
    }

    /// The float for `inf` or `nan` (the sign already consumed), checking the word is complete.
    mutating func scanSpecialFloat(isNegative: Bool, start: Int) throws(TOMLError) -> TOMLValue {
        let value: Double
        if self.isAt("inf") {
            value = isNegative ? -.infinity : .infinity
        } else if self.isAt("nan") {
            value = isNegative ? -.nan : .nan
        } else {
            throw self.error("invalid number", at: start)
        }
        self.position += 3
        try self.checkTerminator(after: "number")
        return .float(value)
    }

    /// Throws unless the current byte can end a value, naming what was scanned in the message.
    func checkTerminator(after what: String) throws(TOMLError) {
        guard self.isValueTerminator(at: self.position) else {
            throw self.error("invalid character \(self.describeCharacter(at: self.position)) in \(what)")
        }
    }

    /// The radix for the letter after a leading `0` (`x`, `o` or `b`), or `nil` for any other byte.
    private static func radix(forPrefix byte: UInt8) -> Int? {
        switch byte {
        case Byte.lowerX: 16
        case Byte.lowerO: 8
        case Byte.lowerB: 2
        default: nil
        }
    }

    /// Scans a non-negative integer after its `0x`, `0o` or `0b` prefix.
    private mutating func scanRadixInteger(radix: Int) throws(TOMLError) -> TOMLValue {
        let start = self.position
        self.position += 2
        let name = radix == 16 ? "hexadecimal" : radix == 8 ? "octal" : "binary"
        let article = radix == 8 ? "an" : "a"
        let digitsStart = self.position
        try self.scanDigits(expected: "\(article) \(name) digit") { Self.digitValue($0, radix: radix) != nil }
        try self.checkTerminator(after: "\(name) integer")
        var value: Int64 = 0
        for byte in self.bytes[digitsStart..<self.position] {
            guard let digit = Self.digitValue(byte, radix: radix) else {
                continue
            }
            let shifted = value.multipliedReportingOverflow(by: Int64(radix))
            let sum = shifted.partialValue.addingReportingOverflow(Int64(digit))
            guard !shifted.overflow, !sum.overflow else {
                let text = String(decoding: self.bytes[start..<self.position], as: UTF8.self)
                throw self.error("integer \(text) is out of the 64-bit range", at: start)
            }
            value = sum.partialValue
        }
        return .integer(value)
    }

    /// The value of a digit in a radix, or `nil` when the byte is not such a digit.
    private static func digitValue(_ byte: UInt8, radix: Int) -> UInt8? {
        guard let value = Self.hexDigitValue(byte), Int(value) < radix else {
            return nil
        }
        return value
    }

    /// Scans one or more digits that may be separated by single underscores.
    private mutating func scanDigits(expected: String, isDigit: (UInt8) -> Bool) throws(TOMLError) {
        guard isDigit(self.peek()) else {
            throw self.error("expected \(expected)")
        }
        self.position += 1
        while self.position < self.bytes.count {
            let byte = self.bytes[self.position]
            if isDigit(byte) {
                self.position += 1
            } else if byte == Byte.underscore {
                guard isDigit(self.peek(1)) else {
                    throw self.error("'_' in a number must be between two digits")
                }
                self.position += 2
            } else {
                break
            }
        }
    }
}
