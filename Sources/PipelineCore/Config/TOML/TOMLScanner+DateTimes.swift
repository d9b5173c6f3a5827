extension TOMLScanner {
    /// Whether the bytes at the current position start a date (`dddd-`) or a time (`dd:`).
    var isAtDateOrTime: Bool {
        self.isAtDate || (Self.isDigit(self.peek()) && Self.isDigit(self.peek(1)) && self.peek(2) == Byte.colon)
    }

    /// Whether the bytes at the current position start a date (`dddd-`).
    private var isAtDate: Bool {
        Self.isDigit(self.peek()) && Self.isDigit(self.peek(1)) && Self.isDigit(self.peek(2))
            && Self.isDigit(self.peek(3)) && self.peek(4) == Byte.minus
    }

    /// Scans an offset date-time, local date-time, local date or local time and validates its fields.
    ///
    /// The result keeps the text as written except that the date/time separator becomes `T` and `z` becomes `Z`.
    mutating func scanDateTime() throws(TOMLError) -> TOMLValue {
        let start = self.position
        var output: [UInt8] = []
        if self.isAtDate {
            try self.scanDate()
            output.append(contentsOf: self.bytes[start..<self.position])
            let separator = self.peek()
            let hasTime =
                separator == Byte.upperT || separator == UInt8(ascii: "t")
                || (separator == Byte.space && Self.isDigit(self.peek(1)) && Self.isDigit(self.peek(2))
                    && self.peek(3) == Byte.colon)
            if hasTime {
                self.position += 1
                output.append(Byte.upperT)
                let timeStart = self.position
                try self.scanTime()
                output.append(contentsOf: self.bytes[timeStart..<self.position])
                try self.scanOffset(into: &output)
            }
        } else {
            try self.scanTime()
            output.append(contentsOf: self.bytes[start..<self.position])
        }
        try self.checkTerminator(after: "date-time")
        return .datetime(String(decoding: output, as: UTF8.self))
    }

    /// Scans and validates `YYYY-MM-DD`.
    private mutating func scanDate() throws(TOMLError) {
        let year = try self.scanFixedDigits(4, name: "year")
        try self.expect(Byte.minus, "expected '-' after the year")
        let monthStart = self.position
        let month = try self.scanFixedDigits(2, name: "month")
        guard (1...12).contains(month) else {
            throw self.error("invalid month '\(Self.twoDigits(month))'", at: monthStart)
        }
        try self.expect(Byte.minus, "expected '-' after the month")
        let dayStart = self.position
        let day = try self.scanFixedDigits(2, name: "day")
        guard day >= 1, day <= Self.daysIn(month: month, year: year) else {
            let yearText = String(decoding: self.bytes[(monthStart - 5)..<(monthStart - 1)], as: UTF8.self)
            throw self.error(
                "invalid day '\(Self.twoDigits(day))' for \(yearText)-\(Self.twoDigits(month))", at: dayStart)
        }
    }

    /// Scans and validates `HH:MM:SS` with optional fractional seconds.
    private mutating func scanTime() throws(TOMLError) {
        let hourStart = self.position
        let hour = try self.scanFixedDigits(2, name: "hour")
        guard hour <= 23 else {
            throw self.error("invalid hour '\(Self.twoDigits(hour))'", at: hourStart)
        }
        try self.expect(Byte.colon, "expected ':' after the hour")
        let minuteStart = self.position
        let minute = try self.scanFixedDigits(2, name: "minute")
        guard minute <= 59 else {
            throw self.error("invalid minute '\(Self.twoDigits(minute))'", at: minuteStart)
        }
        try self.expect(Byte.colon, "expected ':' after the minute (seconds are required)")
        let secondStart = self.position
        let second = try self.scanFixedDigits(2, name: "second")
        // 60 is allowed for a leap second, as RFC 3339 and the TOML grammar allow.
        guard second <= 60 else {
            throw self.error("invalid second '\(Self.twoDigits(second))'", at: secondStart)
        }
        if self.peek() == Byte.dot {
            self.position += 1
            guard Self.isDigit(self.peek()) else {
                throw self.error("expected a digit after '.' in the time")
            }
            while Self.isDigit(self.peek()) {
                self.position += 1
            }
        }
    }

    /// Scans an optional `Z` or `±HH:MM` offset after a date-time's time and appends it.
    private mutating func scanOffset(into output: inout [UInt8]) throws(TOMLError) {
        switch self.peek() {
        case Byte.upperZ, UInt8(ascii: "z"):
            self.position += 1
            output.append(Byte.upperZ)
        case Byte.plus, Byte.minus:
            let start = self.position
            self.position += 1
            let hourStart = self.position
            let hour = try self.scanFixedDigits(2, name: "offset hour")
            guard hour <= 23 else {
                throw self.error("invalid offset hour '\(Self.twoDigits(hour))'", at: hourStart)
            }
            try self.expect(Byte.colon, "expected ':' in the time offset")
            let minuteStart = self.position
            let minute = try self.scanFixedDigits(2, name: "offset minute")
            guard minute <= 59 else {
                throw self.error("invalid offset minute '\(Self.twoDigits(minute))'", at: minuteStart)
            }
            output.append(contentsOf: self.bytes[start..<self.position])
        default:
            break
        }
    }

    /// Scans exactly `count` decimal digits and returns their value.
    private mutating func scanFixedDigits(_ count: Int, name: String) throws(TOMLError) -> Int {
        var value = 0
        for _ in 0..<count {
            let byte = self.peek()
            guard Self.isDigit(byte) else {
                throw self.error("expected a \(count)-digit \(name)")
            }
            value = value * 10 + Int(byte - Byte.zero)
            self.position += 1
        }
        return value
    }

    /// Consumes one expected byte or throws the message at the current position.
    private mutating func expect(_ byte: UInt8, _ message: String) throws(TOMLError) {
        guard self.peek() == byte else {
            throw self.error(message)
        }
        self.position += 1
    }

    /// The number of days in a month of the proleptic Gregorian calendar.
    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2:
            let isLeap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
            return isLeap ? 29 : 28
        case 4, 6, 9, 11:
            return 30
        default:
            return 31
        }
    }

    /// A number from 0 to 99 as two digits.
    private static func twoDigits(_ value: Int) -> String {
        value < 10 ? "0\(value)" : "\(value)"
    }
}
