import PipelineCore
import Testing

/// Invalid TOML 1.0 documents and the exact error each must produce.
struct TOMLInvalidDocumentTests {
    /// An invalid document and where and why it must be rejected.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var toml: String
        var line: Int
        var column: Int
        var message: String

        var testDescription: String { self.name }
    }

    private static let redefinitionCases: [Case] = [
        Case(name: "duplicate key", toml: "a = 1\na = 2", line: 2, column: 1, message: "duplicate key 'a'"),
        Case(
            name: "duplicate key spelled differently", toml: "a = 1\n\"a\" = 2", line: 2, column: 1,
            message: "duplicate key 'a'"),
        Case(
            name: "duplicate key inside a table", toml: "[t]\nk = 1\n'k' = 2", line: 3, column: 1,
            message: "duplicate key 't.k'"),
        Case(
            name: "table defined twice", toml: "[a]\nb = 1\n[a]", line: 3, column: 2,
            message: "table 'a' is already defined"),
        Case(
            name: "header redefines a table made by dotted keys",
            toml: "[fruit]\napple.color = \"red\"\n[fruit.apple]", line: 3, column: 8,
            message: "table 'fruit.apple' is already defined"),
        Case(
            name: "header redefines a root table made by dotted keys", toml: "a.b = 1\n[a]", line: 2, column: 2,
            message: "table 'a' is already defined"),
        Case(
            name: "dotted keys extend a table defined by a header", toml: "[a.b]\nc = 1\n[a]\nb.d = 2", line: 4,
            column: 1, message: "table 'a.b' is already defined"),
        Case(
            name: "dotted-key table reopened by a later header", toml: "[a]\nb.c = 1\n[d]\n[a.b]", line: 4, column: 4,
            message: "table 'a.b' is already defined"),
        Case(
            name: "dotted key through an integer", toml: "a = 1\na.b = 2", line: 2, column: 1,
            message: "key 'a' is already defined as an integer"),
        Case(
            name: "header through a string", toml: "a = 'x'\n[a.b]", line: 2, column: 2,
            message: "key 'a' is already defined as a string"),
        Case(
            name: "header on a value", toml: "a = 1\n[a]", line: 2, column: 2,
            message: "key 'a' is already defined as an integer"),

    ]

    private static let inlineTableCases: [Case] = [
        Case(
            name: "dotted key extends an inline table",
            toml: "[product]\ntype = { name = \"Nail\" }\ntype.edible = false", line: 3, column: 1,
            message: "cannot extend inline table 'product.type'"),
        Case(
            name: "header extends an inline table", toml: "a = {}\n[a.b]", line: 2, column: 2,
            message: "cannot extend inline table 'a'"),
        Case(
            name: "header redefines an inline table", toml: "a = {}\n[a]", line: 2, column: 2,
            message: "key 'a' is already defined as an inline table"),
        Case(
            name: "inline table replaces dotted keys",
            toml: "[product]\ntype.name = \"Nail\"\ntype = { edible = false }", line: 3, column: 1,
            message: "duplicate key 'product.type'"),
        Case(
            name: "duplicate key inside an inline table", toml: "a = { b = 1, b = 2 }", line: 1, column: 14,
            message: "duplicate key 'a.b'"),
        Case(
            name: "inline table extended inside an inline table", toml: "a = { b = {}, b.c = 1 }", line: 1, column: 15,
            message: "cannot extend inline table 'a.b'"),
        Case(
            name: "duplicate key in an inline table inside an array", toml: "a = [1, { x = 1, x = 2 }]", line: 1,
            column: 18, message: "duplicate key 'a[1].x'"),
        Case(
            name: "newline in an inline table", toml: "a = { b = 1,\nc = 2 }", line: 1, column: 13,
            message: "newline is not allowed in an inline table"),
        Case(
            name: "newline right after an inline table opens", toml: "a = {\n}", line: 1, column: 6,
            message: "newline is not allowed in an inline table"),
        Case(
            name: "trailing comma in an inline table", toml: "a = { b = 1, }", line: 1, column: 12,
            message: "trailing comma is not allowed in an inline table"),
        Case(
            name: "comment in an inline table", toml: "a = { b = 1 # no\n}", line: 1, column: 13,
            message: "comment is not allowed in an inline table"),
        Case(
            name: "unterminated inline table", toml: "a = { b = 1", line: 1, column: 12,
            message: "unterminated inline table"),
        Case(
            name: "missing comma in an inline table", toml: "a = { b = 1 c = 2 }", line: 1, column: 13,
            message: "expected ',' or '}' after an inline table entry, found 'c'"),

    ]

    private static let arrayOfTablesCases: [Case] = [
        Case(
            name: "append to a static array", toml: "a = []\n[[a]]", line: 2, column: 3,
            message: "cannot append to static array 'a'"),
        Case(
            name: "array of tables over a table", toml: "[fruit.physical]\n[[fruit]]", line: 2, column: 3,
            message: "key 'fruit' is already defined as a table"),
        Case(
            name: "table over an array of tables", toml: "[[fruit]]\n[fruit]", line: 2, column: 2,
            message: "key 'fruit' is already defined as an array of tables"),
        Case(
            name: "sub-table of an array element defined twice",
            toml: "[[fruits]]\n[fruits.physical]\n[fruits.physical]", line: 3, column: 9,
            message: "table 'fruits.physical' is already defined"),
        Case(
            name: "dotted key into an array of tables", toml: "[[a.b]]\n[a]\nb.c = 1", line: 3, column: 1,
            message: "key 'a.b' is already defined as an array of tables"),

    ]

    private static let stringCases: [Case] = [
        Case(
            name: "invalid escape", toml: #"a = "\q""#, line: 1, column: 6, message: #"invalid escape '\q'"#),
        Case(
            name: "escaped space is not a line-ending backslash", toml: "a = \"\"\"\\ x\"\"\"", line: 1, column: 8,
            message: #"invalid escape '\ '"#),
        Case(
            name: "short unicode escape", toml: #"a = "\u12G4""#, line: 1, column: 10,
            message: #"expected 4 hexadecimal digits after '\u'"#),
        Case(
            name: "surrogate escape", toml: #"a = "\uD800""#, line: 1, column: 6,
            message: #"escape '\uD800' is not a Unicode scalar value"#),
        Case(
            name: "escape beyond Unicode", toml: #"a = "\U00110000""#, line: 1, column: 6,
            message: #"escape '\U00110000' is not a Unicode scalar value"#),
        Case(
            name: "unterminated basic string", toml: "a = \"abc\nb = 1", line: 1, column: 9,
            message: "unterminated string"),
        Case(
            name: "unterminated literal string", toml: "a = 'abc", line: 1, column: 9, message: "unterminated string"),
        Case(
            name: "unterminated multi-line string", toml: "a = \"\"\"abc\n", line: 2, column: 1,
            message: "unterminated multi-line string"),
        Case(
            name: "six closing quotes", toml: "a = \"\"\"x\"\"\"\"\"\"", line: 1, column: 14,
            message: "expected a newline after the value, found '\"'"),
        Case(
            name: "multi-line string as a key", toml: "\"\"\"a\"\"\" = 1", line: 1, column: 1,
            message: "a multi-line string cannot be used as a key"),

    ]

    private static let controlCharacterCases: [Case] = [
        Case(
            name: "control character in a string", toml: "a = \"a\u{1}b\"", line: 1, column: 7,
            message: "control character U+0001 in string"),
        Case(
            name: "NUL in a multi-line literal string", toml: "a = '''\u{0}'''", line: 1, column: 8,
            message: "control character U+0000 in string"),
        Case(
            name: "DEL in a literal string", toml: "a = 'x\u{7F}'", line: 1, column: 7,
            message: "control character U+007F in string"),
        Case(
            name: "DEL in a comment", toml: "a = 1 # \u{7F}", line: 1, column: 9,
            message: "control character U+007F in comment"),
        Case(
            name: "bare carriage return", toml: "a = 1\rb = 2", line: 1, column: 6,
            message: "carriage return not followed by line feed"),
        Case(
            name: "bare carriage return in a multi-line string", toml: "a = '''x\ry'''", line: 1, column: 9,
            message: "control character U+000D in string"),

    ]

    private static let numberCases: [Case] = [
        Case(name: "leading zero", toml: "a = 01", line: 1, column: 5, message: "leading zeros are not allowed"),
        Case(
            name: "leading zero in a float", toml: "a = 03.14", line: 1, column: 5,
            message: "leading zeros are not allowed"),
        Case(
            name: "leading zero after a sign", toml: "a = -012", line: 1, column: 6,
            message: "leading zeros are not allowed"),
        Case(
            name: "double underscore", toml: "a = 1__000", line: 1, column: 6,
            message: "'_' in a number must be between two digits"),
        Case(
            name: "trailing underscore", toml: "a = 1_", line: 1, column: 6,
            message: "'_' in a number must be between two digits"),
        Case(
            name: "integer overflow", toml: "a = 9223372036854775808", line: 1, column: 5,
            message: "integer 9223372036854775808 is out of the 64-bit range"),
        Case(
            name: "integer underflow", toml: "a = -9_223_372_036_854_775_809", line: 1, column: 5,
            message: "integer -9_223_372_036_854_775_809 is out of the 64-bit range"),
        Case(
            name: "hexadecimal overflow", toml: "a = 0x8000000000000000", line: 1, column: 5,
            message: "integer 0x8000000000000000 is out of the 64-bit range"),
        Case(
            name: "signed hexadecimal", toml: "a = +0x1", line: 1, column: 5,
            message: "hexadecimal, octal and binary integers cannot have a sign"),
        Case(
            name: "uppercase radix prefix", toml: "a = 0X1", line: 1, column: 6,
            message: "invalid character 'X' in number"),
        Case(
            name: "octal digit out of range", toml: "a = 0o8", line: 1, column: 7,
            message: "expected an octal digit"),
        Case(
            name: "binary digit out of range", toml: "a = 0b102", line: 1, column: 9,
            message: "invalid character '2' in binary integer"),
        Case(
            name: "float without fraction digits", toml: "a = 1.", line: 1, column: 7,
            message: "expected a digit after '.'"),
        Case(
            name: "float without integer part", toml: "a = .5", line: 1, column: 5,
            message: "expected a value, found '.'"),
        Case(
            name: "fraction after exponent", toml: "a = 1e5.0", line: 1, column: 8,
            message: "invalid character '.' in number"),
        Case(
            name: "exponent without digits", toml: "a = 1e", line: 1, column: 7,
            message: "expected a digit in the exponent"),
        Case(
            name: "infinity spelled out", toml: "a = -infinity", line: 1, column: 9,
            message: "invalid character 'i' in number"),

    ]

    private static let dateTimeCases: [Case] = [
        Case(
            name: "February 30", toml: "a = 2021-02-30", line: 1, column: 13,
            message: "invalid day '30' for 2021-02"),
        Case(
            name: "February 29 in a common year", toml: "a = 1900-02-29T00:00:00Z", line: 1, column: 13,
            message: "invalid day '29' for 1900-02"),
        Case(
            name: "April 31", toml: "a = 2021-04-31", line: 1, column: 13, message: "invalid day '31' for 2021-04"),
        Case(name: "month 13", toml: "a = 2021-13-01", line: 1, column: 10, message: "invalid month '13'"),
        Case(name: "month 00", toml: "a = 2021-00-01", line: 1, column: 10, message: "invalid month '00'"),
        Case(name: "hour 24", toml: "a = 24:00:00", line: 1, column: 5, message: "invalid hour '24'"),
        Case(
            name: "minute 60", toml: "a = 2021-01-01T12:60:00Z", line: 1, column: 19,
            message: "invalid minute '60'"),
        Case(name: "second 61", toml: "a = 12:00:61", line: 1, column: 11, message: "invalid second '61'"),
        Case(
            name: "missing seconds", toml: "a = 12:30", line: 1, column: 10,
            message: "expected ':' after the minute (seconds are required)"),
        Case(
            name: "offset hour 24", toml: "a = 2021-01-01T12:00:00+24:00", line: 1, column: 25,
            message: "invalid offset hour '24'"),
        Case(
            name: "single-digit month", toml: "a = 1979-5-27", line: 1, column: 11,
            message: "expected a 2-digit month"),
        Case(
            name: "offset on a local time", toml: "a = 07:32:00Z", line: 1, column: 13,
            message: "invalid character 'Z' in date-time"),
        Case(
            name: "fraction without digits", toml: "a = 07:32:00.", line: 1, column: 14,
            message: "expected a digit after '.' in the time"),

    ]

    private static let syntaxCases: [Case] = [
        Case(name: "missing equals", toml: "a 1", line: 1, column: 3, message: "expected '=' after key"),
        Case(name: "missing value", toml: "a =", line: 1, column: 4, message: "expected a value, found end of file"),
        Case(
            name: "missing value before newline", toml: "a =\nb = 1", line: 1, column: 4,
            message: "expected a value, found end of line"),
        Case(
            name: "two key-value pairs on one line", toml: "a = 1 b = 2", line: 1, column: 7,
            message: "expected a newline after the value, found 'b'"),
        Case(
            name: "unquoted string", toml: "a = hello", line: 1, column: 5,
            message: "invalid value 'hello' (strings must be quoted)"),
        Case(
            name: "misspelled boolean", toml: "a = truee", line: 1, column: 5,
            message: "invalid value 'truee' (strings must be quoted)"),
        Case(
            name: "uppercase boolean", toml: "a = True", line: 1, column: 5,
            message: "invalid value 'True' (strings must be quoted)"),
        Case(
            name: "non-ASCII bare key", toml: "ä = 1", line: 1, column: 1, message: "expected a key, found 'ä'"),
        Case(name: "empty dotted key part", toml: "a. = 1", line: 1, column: 4, message: "expected a key, found '='"),
        Case(
            name: "columns count Unicode scalars", toml: "a = \"日本é\" x", line: 1, column: 11,
            message: "expected a newline after the value, found 'x'"),
        Case(
            name: "missing comma in an array", toml: "a = [1 2]", line: 1, column: 8,
            message: "expected ',' or ']' after an array element, found '2'"),
        Case(
            name: "leading comma in an array", toml: "a = [,]", line: 1, column: 6,
            message: "expected a value, found ','"),
        Case(
            name: "two commas in an array", toml: "a = [1,,]", line: 1, column: 8,
            message: "expected a value, found ','"),
        Case(name: "unterminated array", toml: "a = [1,\n2", line: 2, column: 2, message: "unterminated array"),
        Case(
            name: "unterminated table header", toml: "[a\nb = 1", line: 1, column: 3,
            message: "expected ']' after the table name, found end of line"),
        Case(name: "empty table header", toml: "[]", line: 1, column: 2, message: "expected a key, found ']'"),
        Case(
            name: "split array of tables closing", toml: "[[a] ]", line: 1, column: 4,
            message: "expected ']]' after the array of tables name, found ']'"),
        Case(
            name: "text after a table header", toml: "[a] b = 1", line: 1, column: 5,
            message: "expected a newline after the table header, found 'b'"),
        Case(
            name: "arrays nested too deeply", toml: "a = " + String(repeating: "[", count: 200), line: 1, column: 133,
            message: "arrays and inline tables are nested more than 128 levels deep"),
    ]

    /// Every case, in the order of the groups above.
    static let cases = [
        Self.redefinitionCases, Self.inlineTableCases, Self.arrayOfTablesCases, Self.stringCases,
        Self.controlCharacterCases, Self.numberCases, Self.dateTimeCases, Self.syntaxCases,
    ].flatMap { $0 }

    @Test(arguments: Self.cases)
    func rejectsWithTheExpectedError(_ testCase: Case) {
        let expected = TOMLError(
            location: TOMLLocation(file: "bad.toml", line: testCase.line, column: testCase.column),
            message: testCase.message)
        #expect(throws: expected) {
            try TOMLParser.parse(testCase.toml, file: "bad.toml")
        }
    }

    @Test func errorDescriptionIncludesTheLocation() {
        do {
            _ = try TOMLParser.parse("a = 1\na = 2", file: "config/x.toml")
            Issue.record("expected an error")
        } catch {
            #expect(error.description == "config/x.toml:2:1: duplicate key 'a'")
            #expect(error.location.description == "config/x.toml:2:1")
        }
    }
}
