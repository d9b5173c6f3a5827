/// Reads a TOML document statement by statement and enforces which keys and tables may be defined where.
struct TOMLReader: ~Copyable {
    private typealias Byte = TOMLScanner.Byte

    /// One part of a (possibly dotted) key and the byte offset where it was written.
    private struct KeyPart {
        var name: String
        var offset: Int
    }

    /// One step on the way from the root to a value, for naming keys in messages.
    private enum PathSegment {
        case key(String)
        case index(Int)
    }

    /// How deeply arrays and inline tables may nest, and how many parts a key may have.
    ///
    /// The limit keeps hostile input from exhausting the stack; real documents stay far below it.
    static let maximumDepth = 128

    private var scanner: TOMLScanner
    private let root = TOMLTableBuilder(origin: .header, location: nil)
    /// The number of the current section: 0 before the first header, then one more for each header.
    private var section = 0
    /// The next unused section number; inline tables take one too, so their dotted keys stay their own.
    private var nextSection = 1
    /// The path from the root to the table whose key-value pairs are being read, for naming keys in messages.
    ///
    /// It is kept as segments and only turned into text for an error, because most documents have none.
    private var tablePath: [PathSegment] = []
    private var depth = 0

    /// Creates a reader for a document.
    init(text: String, file: String) {
        self.scanner = TOMLScanner(text: text, file: file)
    }

    /// Reads the whole document and returns the root table.
    mutating func readDocument() throws(TOMLError) -> TOMLTable {
        var current = self.root
        while !self.scanner.isAtEnd {
            self.scanner.skipWhitespace()
            if self.scanner.isAtEnd {
                break
            }
            switch self.scanner.peek() {
            case Byte.hash, Byte.lineFeed, Byte.carriageReturn:
                try self.scanner.finishLine(after: "a comment")
            case Byte.openBracket:
                current = try self.readTableHeader()
                try self.scanner.finishLine(after: "the table header")
            default:
                try self.readKeyValue(into: current, section: self.section)
                try self.scanner.finishLine(after: "the value")
            }
        }
        return self.root.build()
    }

    /// Reads `key = value` and adds it to a table.
    private mutating func readKeyValue(into table: TOMLTableBuilder, section: Int) throws(TOMLError) {
        let parts = try self.readKey()
        self.scanner.skipWhitespace()
        guard self.scanner.peek() == Byte.equals else {
            throw self.scanner.error("expected '=' after key")
        }
        self.scanner.position += 1
        self.scanner.skipWhitespace()
        let value: TOMLValue
        if self.isAtArrayOrInlineTable {
            let depth = self.tablePath.count
            self.tablePath.append(contentsOf: parts.map { .key($0.name) })
            value = try self.readValue()
            self.tablePath.removeSubrange(depth...)
        } else {
            value = try self.readValue()
        }
        try self.insert(value, at: parts, into: table, section: section)
    }

    /// Reads a simple or dotted key.
    private mutating func readKey() throws(TOMLError) -> [KeyPart] {
        var parts = [try self.readSimpleKey()]
        while true {
            let afterPart = self.scanner.position
            self.scanner.skipWhitespace()
            guard self.scanner.peek() == Byte.dot else {
                self.scanner.position = afterPart
                return parts
            }
            self.scanner.position += 1
            self.scanner.skipWhitespace()
            guard parts.count < Self.maximumDepth else {
                throw self.scanner.error("key has more than \(Self.maximumDepth) parts")
            }
            parts.append(try self.readSimpleKey())
        }
    }

    /// Reads a bare key or a single-line quoted key.
    private mutating func readSimpleKey() throws(TOMLError) -> KeyPart {
        let start = self.scanner.position
        switch self.scanner.peek() {
        case Byte.quote, Byte.apostrophe:
            if self.scanner.isTripleQuote(Byte.quote) || self.scanner.isTripleQuote(Byte.apostrophe) {
                throw self.scanner.error("a multi-line string cannot be used as a key")
            }
            return KeyPart(name: try self.scanner.scanString(), offset: start)
        default:
            self.scanner.skipBareKey()
            guard self.scanner.position > start else {
                throw self.scanner.error("expected a key, found \(self.scanner.describeCharacter(at: start))")
            }
            let name = String(decoding: self.scanner.bytes[start..<self.scanner.position], as: UTF8.self)
            return KeyPart(name: name, offset: start)
        }
    }

    /// Reads any value.
    private mutating func readValue() throws(TOMLError) -> TOMLValue {
        guard !self.scanner.isAtEnd else {
            throw self.scanner.error("expected a value, found end of file")
        }
        let byte = self.scanner.peek()
        switch byte {
        case Byte.quote, Byte.apostrophe:
            return .string(try self.scanner.scanString())
        case Byte.openBracket:
            return try self.readArray()
        case Byte.openBrace:
            return try self.readInlineTable()
        case Byte.plus, Byte.minus:
            return try self.scanner.scanNumber()
        case _ where TOMLScanner.isDigit(byte):
            return self.scanner.isAtDateOrTime ? try self.scanner.scanDateTime() : try self.scanner.scanNumber()
        case _ where TOMLScanner.isBareKeyByte(byte):
            return try self.readWordValue()
        default:
            throw self.scanner.error(
                "expected a value, found \(self.scanner.describeCharacter(at: self.scanner.position))")
        }
    }

    /// Whether the next value is an array or an inline table.
    private var isAtArrayOrInlineTable: Bool {
        self.scanner.peek() == Byte.openBracket || self.scanner.peek() == Byte.openBrace
    }

    /// Reads `true`, `false`, `inf` or `nan`; any other bare word is an error.
    private mutating func readWordValue() throws(TOMLError) -> TOMLValue {
        let start = self.scanner.position
        self.scanner.skipBareKey()
        let word = String(decoding: self.scanner.bytes[start..<self.scanner.position], as: UTF8.self)
        let value: TOMLValue
        switch word {
        case "true": value = .boolean(true)
        case "false": value = .boolean(false)
        case "inf": value = .float(.infinity)
        case "nan": value = .float(.nan)
        default: throw self.scanner.error("invalid value '\(word)' (strings must be quoted)", at: start)
        }
        try self.scanner.checkTerminator(after: "value")
        return value
    }

    /// Reads `[ ... ]`, where newlines, comments and a trailing comma are allowed.
    private mutating func readArray() throws(TOMLError) -> TOMLValue {
        try self.enterNesting()
        defer { self.depth -= 1 }
        self.scanner.position += 1
        var elements: [TOMLValue] = []
        while true {
            try self.scanner.skipWhitespaceCommentsAndNewlines()
            if self.scanner.isAtEnd {
                throw self.scanner.error("unterminated array")
            }
            if self.scanner.peek() == Byte.closeBracket {
                self.scanner.position += 1
                return .array(elements)
            }
            if self.isAtArrayOrInlineTable {
                self.tablePath.append(.index(elements.count))
                elements.append(try self.readValue())
                self.tablePath.removeLast()
            } else {
                elements.append(try self.readValue())
            }
            try self.scanner.skipWhitespaceCommentsAndNewlines()
            if self.scanner.isAtEnd {
                throw self.scanner.error("unterminated array")
            }
            switch self.scanner.peek() {
            case Byte.comma:
                self.scanner.position += 1
            case Byte.closeBracket:
                self.scanner.position += 1
                return .array(elements)
            default:
                let found = self.scanner.describeCharacter(at: self.scanner.position)
                throw self.scanner.error("expected ',' or ']' after an array element, found \(found)")
            }
        }
    }

    /// Reads `{ ... }`, which must stay on one line and has no trailing comma.
    private mutating func readInlineTable() throws(TOMLError) -> TOMLValue {
        try self.enterNesting()
        defer { self.depth -= 1 }
        let table = TOMLTableBuilder(origin: .header, location: self.scanner.location(at: self.scanner.position))
        let section = self.nextSection
        self.nextSection += 1
        self.scanner.position += 1
        self.scanner.skipWhitespace()
        if self.scanner.peek() == Byte.closeBrace {
            self.scanner.position += 1
            return .table(table.build())
        }
        var commaOffset: Int?
        while true {
            self.scanner.skipWhitespace()
            switch self.scanner.peek() {
            case Byte.closeBrace:
                throw self.scanner.error(
                    "trailing comma is not allowed in an inline table", at: commaOffset ?? self.scanner.position)
            default:
                try self.checkInlineTableContinues()
            }
            try self.readKeyValue(into: table, section: section)
            self.scanner.skipWhitespace()
            switch self.scanner.peek() {
            case Byte.comma:
                commaOffset = self.scanner.position
                self.scanner.position += 1
            case Byte.closeBrace:
                self.scanner.position += 1
                return .table(table.build())
            default:
                try self.checkInlineTableContinues()
                let found = self.scanner.describeCharacter(at: self.scanner.position)
                throw self.scanner.error("expected ',' or '}' after an inline table entry, found \(found)")
            }
        }
    }

    /// Throws the specific error for an inline table that reaches a newline, a comment or the end of the file.
    private func checkInlineTableContinues() throws(TOMLError) {
        if self.scanner.isAtEnd {
            throw self.scanner.error("unterminated inline table")
        }
        switch self.scanner.peek() {
        case Byte.lineFeed, Byte.carriageReturn:
            throw self.scanner.error("newline is not allowed in an inline table")
        case Byte.hash:
            throw self.scanner.error("comment is not allowed in an inline table")
        default:
            break
        }
    }

    /// Counts one more level of array or inline table nesting, rejecting documents nested too deeply.
    private mutating func enterNesting() throws(TOMLError) {
        guard self.depth < Self.maximumDepth else {
            throw self.scanner.error("arrays and inline tables are nested more than \(Self.maximumDepth) levels deep")
        }
        self.depth += 1
    }

    /// Reads `[key]` or `[[key]]` and returns the table that the following key-value pairs go into.
    private mutating func readTableHeader() throws(TOMLError) -> TOMLTableBuilder {
        let start = self.scanner.position
        self.scanner.position += 1
        let isArray = self.scanner.peek() == Byte.openBracket
        if isArray {
            self.scanner.position += 1
        }
        self.scanner.skipWhitespace()
        let parts = try self.readKey()
        self.scanner.skipWhitespace()
        let closing = isArray ? "']]' after the array of tables name" : "']' after the table name"
        guard self.scanner.peek() == Byte.closeBracket, !isArray || self.scanner.peek(1) == Byte.closeBracket else {
            let found = self.scanner.describeCharacter(at: self.scanner.position)
            throw self.scanner.error("expected \(closing), found \(found)")
        }
        self.scanner.position += isArray ? 2 : 1
        self.section = self.nextSection
        self.nextSection += 1
        self.tablePath = parts.map { .key($0.name) }
        return try self.openTable(at: parts, isArray: isArray, headerLocation: self.scanner.location(at: start))
    }

    /// Finds or creates the table a header names, applying the rules against defining a table twice.
    private func openTable(
        at parts: [KeyPart],
        isArray: Bool,
        headerLocation: TOMLLocation
    ) throws(TOMLError) -> TOMLTableBuilder {
        var table = self.root
        for index in 0..<(parts.count - 1) {
            let part = parts[index]
            switch table[part.name] {
            case nil:
                let child = TOMLTableBuilder(origin: .implicit, location: headerLocation)
                table.add(.table(child), forKey: part.name, at: headerLocation)
                table = child
            case .table(let child):
                table = child
            case .arrayOfTables(let array):
                guard let last = array.elements.last else {
                    let path = Self.path(parts, through: index)
                    throw self.scanner.error("array of tables '\(path)' has no elements", at: part.offset)
                }
                table = last
            case .value(.table):
                let path = Self.path(parts, through: index)
                throw self.scanner.error("cannot extend inline table '\(path)'", at: part.offset)
            case .value(let value):
                throw self.redefinitionError(path: Self.path(parts, through: index), value: value, at: part.offset)
            }
        }
        guard let last = parts.last else {
            throw self.scanner.error("expected a key")
        }
        let existing = table[last.name]
        if isArray {
            let array: TOMLTableBuilder.ArrayOfTables
            switch existing {
            case nil:
                array = TOMLTableBuilder.ArrayOfTables()
                table.add(.arrayOfTables(array), forKey: last.name, at: headerLocation)
            case .arrayOfTables(let existingArray):
                array = existingArray
            case .value(.array):
                throw self.scanner.error("cannot append to static array '\(Self.path(parts))'", at: last.offset)
            case .value(.table):
                throw self.scanner.error(
                    "key '\(Self.path(parts))' is already defined as an inline table", at: last.offset)
            case .value(let value):
                throw self.redefinitionError(path: Self.path(parts), value: value, at: last.offset)
            case .table:
                throw self.scanner.error("key '\(Self.path(parts))' is already defined as a table", at: last.offset)
            }
            let element = TOMLTableBuilder(origin: .header, location: headerLocation)
            array.elements.append(element)
            return element
        }
        switch existing {
        case nil:
            let child = TOMLTableBuilder(origin: .header, location: headerLocation)
            table.add(.table(child), forKey: last.name, at: headerLocation)
            return child
        case .table(let child) where child.origin == .implicit:
            child.origin = .header
            child.location = headerLocation
            table.setLocation(headerLocation, forKey: last.name)
            return child
        case .table:
            throw self.scanner.error("table '\(Self.path(parts))' is already defined", at: last.offset)
        case .arrayOfTables:
            throw self.scanner.error(
                "key '\(Self.path(parts))' is already defined as an array of tables", at: last.offset)
        case .value(.table):
            throw self.scanner.error("key '\(Self.path(parts))' is already defined as an inline table", at: last.offset)
        case .value(let value):
            throw self.redefinitionError(path: Self.path(parts), value: value, at: last.offset)
        }
    }

    /// Adds a value at a (possibly dotted) key, creating the intermediate tables the dotted key implies.
    private func insert(
        _ value: TOMLValue,
        at parts: [KeyPart],
        into section: TOMLTableBuilder,
        section number: Int
    ) throws(TOMLError) {
        var table = section
        for index in 0..<(parts.count - 1) {
            let part = parts[index]
            switch table[part.name] {
            case nil:
                let location = self.scanner.location(at: part.offset)
                let child = TOMLTableBuilder(origin: .dotted(section: number), location: location)
                table.add(.table(child), forKey: part.name, at: location)
                table = child
            case .table(let child):
                switch child.origin {
                case .implicit:
                    child.origin = .dotted(section: number)
                case .dotted(let childSection) where childSection == number:
                    break
                case .dotted, .header:
                    let path = self.pathInSection(parts, through: index)
                    throw self.scanner.error("table '\(path)' is already defined", at: part.offset)
                }
                table = child
            case .arrayOfTables:
                let path = self.pathInSection(parts, through: index)
                throw self.scanner.error("key '\(path)' is already defined as an array of tables", at: part.offset)
            case .value(.table):
                let path = self.pathInSection(parts, through: index)
                throw self.scanner.error("cannot extend inline table '\(path)'", at: part.offset)
            case .value(let value):
                let path = self.pathInSection(parts, through: index)
                throw self.redefinitionError(path: path, value: value, at: part.offset)
            }
        }
        guard let last = parts.last else {
            throw self.scanner.error("expected a key")
        }
        guard table[last.name] == nil else {
            let path = self.pathInSection(parts, through: parts.count - 1)
            throw self.scanner.error("duplicate key '\(path)'", at: last.offset)
        }
        table.add(.value(value), forKey: last.name, at: self.scanner.location(at: last.offset))
    }

    /// The error for using a key that holds a plain value as if it were a table.
    private func redefinitionError(path: String, value: TOMLValue, at offset: Int) -> TOMLError {
        let article = value.typeName.first.map { "aeiou".contains($0) } == true ? "an" : "a"
        return self.scanner.error("key '\(path)' is already defined as \(article) \(value.typeName)", at: offset)
    }

    /// The path of a key part written after the current table path, as text for a message.
    private func pathInSection(_ parts: [KeyPart], through index: Int) -> String {
        Self.render(self.tablePath + parts[...index].map { .key($0.name) })
    }

    /// The key parts up to and including `index` (all of them by default), as text for a message.
    private static func path(_ parts: [KeyPart], through index: Int? = nil) -> String {
        Self.render(parts[...(index ?? parts.count - 1)].map { .key($0.name) })
    }

    /// A path as a dotted key with non-bare parts quoted and array positions as `[n]`.
    private static func render(_ segments: [PathSegment]) -> String {
        var text = ""
        for segment in segments {
            switch segment {
            case .index(let index):
                text += "[\(index)]"
            case .key(let name):
                text += (text.isEmpty ? "" : ".") + Self.quotedIfNeeded(name)
            }
        }
        return text
    }

    /// A key as written in a dotted key: bare when it can be, otherwise a basic string.
    private static func quotedIfNeeded(_ name: String) -> String {
        if !name.isEmpty, name.utf8.allSatisfy(TOMLScanner.isBareKeyByte) {
            return name
        }
        var quoted = "\""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                quoted += "\\u" + TOMLScanner.hex(scalar.value, width: 4)
            default: quoted.unicodeScalars.append(scalar)
            }
        }
        return quoted + "\""
    }
}
