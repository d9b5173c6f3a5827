import PipelineCore
import Testing

/// Valid TOML 1.0 documents and the values they must produce.
struct TOMLValidDocumentTests {
    /// A valid document and the root table it must parse to.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var toml: String
        var expected: TOMLTable

        var testDescription: String { self.name }
    }

    private static let structureCases: [Case] = [
        Case(name: "empty document", toml: "", expected: [:]),
        Case(name: "only comments and blank lines", toml: "# one\n\n   # two\n\t\n#\tthree ü\n", expected: [:]),
        Case(name: "byte order mark", toml: "\u{FEFF}a = 1\n", expected: ["a": .integer(1)]),
        Case(
            name: "CRLF line endings",
            toml: "a = 1\r\n[b]\r\nc = \"x\" # comment\r\n\r\nd = [\r\n  1,\r\n]\r\n",
            expected: ["a": .integer(1), "b": .table(["c": .string("x"), "d": .array([.integer(1)])])]
        ),
        Case(
            name: "comments after every kind of line",
            toml: "a = 1 # c\n[b] # c\nc = [1] # c\n[[d]] # c\n",
            expected: [
                "a": .integer(1), "b": .table(["c": .array([.integer(1)])]), "d": .array([.table([:])]),
            ]
        ),
        Case(
            name: "tabs and spaces around keys and equals",
            toml: "\ta\t=\t1\t\n  b=2\nc =3",
            expected: ["a": .integer(1), "b": .integer(2), "c": .integer(3)]
        ),
        Case(name: "no newline at the end", toml: "a = 1 # comment", expected: ["a": .integer(1)]),
        Case(
            name: "hash inside a string", toml: "a = \"# not a comment\"", expected: ["a": .string("# not a comment")]),

    ]

    private static let keyCases: [Case] = [
        Case(
            name: "bare keys",
            toml: "key = 1\nbare_key = 2\nbare-key = 3\n1234 = 4\n-_- = 5",
            expected: [
                "key": .integer(1), "bare_key": .integer(2), "bare-key": .integer(3), "1234": .integer(4),
                "-_-": .integer(5),
            ]
        ),
        Case(
            name: "quoted keys",
            toml: "\"127.0.0.1\" = 1\n\"ʎǝʞ\" = 2\n'quoted \"value\"' = 3\n\"\" = 4\n\"tab\\there\" = 5",
            expected: [
                "127.0.0.1": .integer(1), "ʎǝʞ": .integer(2), "quoted \"value\"": .integer(3), "": .integer(4),
                "tab\there": .integer(5),
            ]
        ),
        Case(
            name: "keys that look like other values",
            toml: "true = 1\nfalse = 2\ninf = 3\nnan = 4\n1979-05-27 = 5",
            expected: [
                "true": .integer(1), "false": .integer(2), "inf": .integer(3), "nan": .integer(4),
                "1979-05-27": .integer(5),
            ]
        ),
        Case(
            name: "dotted keys",
            toml:
                "name = \"Orange\"\nphysical.color = \"orange\"\nphysical.shape = \"round\"\nsite.\"google.com\" = true",
            expected: [
                "name": .string("Orange"),
                "physical": .table(["color": .string("orange"), "shape": .string("round")]),
                "site": .table(["google.com": .boolean(true)]),
            ]
        ),
        Case(
            name: "dotted keys with whitespace around the dots",
            toml: "fruit . color = \"yellow\"\nfruit\t.\tflavor = 'banana'",
            expected: ["fruit": .table(["color": .string("yellow"), "flavor": .string("banana")])]
        ),
        Case(
            name: "dotted keys out of order",
            toml: "apple.type = \"fruit\"\norange.type = \"fruit\"\napple.skin = \"thin\"",
            expected: [
                "apple": .table(["type": .string("fruit"), "skin": .string("thin")]),
                "orange": .table(["type": .string("fruit")]),
            ]
        ),
        Case(
            name: "float-looking dotted key",
            toml: "3.14159 = \"pi\"",
            expected: ["3": .table(["14159": .string("pi")])]
        ),

    ]

    private static let stringCases: [Case] = [
        Case(
            name: "basic string escapes",
            toml: #"a = "\b\t\n\f\r\"\\""#,
            expected: ["a": .string("\u{8}\t\n\u{C}\r\"\\")]
        ),
        Case(
            name: "unicode escapes",
            toml: #"a = "\u00E9\U0001F600\u0041""#,
            expected: ["a": .string("é😀A")]
        ),
        Case(
            name: "basic string with tab and non-ASCII",
            toml: "a = \"x\ty ü 日本\"",
            expected: ["a": .string("x\ty ü 日本")]
        ),
        Case(
            name: "multi-line basic string trims the first newline",
            toml: "a = \"\"\"\nRoses are red\nViolets are blue\"\"\"",
            expected: ["a": .string("Roses are red\nViolets are blue")]
        ),
        Case(
            name: "multi-line basic string keeps later newlines",
            toml: "a = \"\"\"\n\none\n\"\"\"",
            expected: ["a": .string("\none\n")]
        ),
        Case(
            name: "line-ending backslash",
            toml: "a = \"\"\"\nThe quick \\\n\n\n   brown \\\n   fox.\"\"\"\nb = \"\"\"x \\  \t\n  y\"\"\"",
            expected: ["a": .string("The quick brown fox."), "b": .string("x y")]
        ),
        Case(
            name: "quotes inside multi-line basic strings",
            toml: """
                a = \"\"\"Here are two quotation marks: "". Simple enough.\"\"\"
                b = \"\"\"\"This," she said, "is just a pointless statement.\"\"\"\"
                c = \"\"\"x\"\"\"\"\"
                d = \"\"\"a\\\"\"\"b\"\"\"
                """,
            expected: [
                "a": .string("Here are two quotation marks: \"\". Simple enough."),
                "b": .string("\"This,\" she said, \"is just a pointless statement.\""),
                "c": .string("x\"\""),
                "d": .string("a\"\"\"b"),
            ]
        ),
        Case(
            name: "escapes in multi-line basic strings",
            toml: "a = \"\"\"tab\\tnewline\\n\\u00e9\"\"\"",
            expected: ["a": .string("tab\tnewline\né")]
        ),
        Case(
            name: "literal strings",
            toml: #"a = 'C:\Users\nodejs\templates'"# + "\n" + #"b = '<\i\c*\s*>'"# + "\nc = 'Tom \"Dubs\" Preston'",
            expected: [
                "a": .string(#"C:\Users\nodejs\templates"#), "b": .string(#"<\i\c*\s*>"#),
                "c": .string("Tom \"Dubs\" Preston"),
            ]
        ),
        Case(
            name: "multi-line literal strings",
            toml: "re = '''I [dw]on't need \\d{2} apples'''\nlines = '''\nThe first newline is\n"
                + "trimmed in raw strings.\n   All other whitespace\n   is preserved.\n'''",
            expected: [
                "re": .string("I [dw]on't need \\d{2} apples"),
                "lines": .string(
                    "The first newline is\ntrimmed in raw strings.\n   All other whitespace\n   is preserved.\n"),
            ]
        ),
        Case(
            name: "quotes inside multi-line literal strings",
            toml: "a = '''Here are fifteen quotation marks: \"\"\"\"\"\"\"\"\"\"\"\"\"\"\"'''\n"
                + "b = ''''That,' she said, 'is still pointless.''''",
            expected: [
                "a": .string("Here are fifteen quotation marks: " + String(repeating: "\"", count: 15)),
                "b": .string("'That,' she said, 'is still pointless.'"),
            ]
        ),
        Case(
            name: "CRLF inside multi-line strings becomes LF",
            toml: "a = \"\"\"\r\none\r\ntwo\"\"\"\r\nb = '''\r\nthree\r\n'''\r\n",
            expected: ["a": .string("one\ntwo"), "b": .string("three\n")]
        ),
        Case(
            name: "empty strings",
            toml: "a = \"\"\nb = ''\nc = \"\"\"\"\"\"\nd = ''''''",
            expected: ["a": .string(""), "b": .string(""), "c": .string(""), "d": .string("")]
        ),

    ]

    private static let numberCases: [Case] = [
        Case(
            name: "decimal integers",
            toml: "a = +99\nb = 42\nc = 0\nd = -17\ne = 1_000\nf = 5_349_221\ng = 1_2_3_4_5\nh = -0\ni = +0",
            expected: [
                "a": .integer(99), "b": .integer(42), "c": .integer(0), "d": .integer(-17), "e": .integer(1000),
                "f": .integer(5_349_221), "g": .integer(12345), "h": .integer(0), "i": .integer(0),
            ]
        ),
        Case(
            name: "hexadecimal, octal and binary integers",
            toml: "a = 0xDEADBEEF\nb = 0xdeadbeef\nc = 0xdead_beef\nd = 0o01234567\ne = 0o755\nf = 0b11010110\n"
                + "g = 0x0\nh = 0b1_0",
            expected: [
                "a": .integer(0xDEAD_BEEF), "b": .integer(0xDEAD_BEEF), "c": .integer(0xDEAD_BEEF),
                "d": .integer(0o01234567), "e": .integer(0o755), "f": .integer(0b11010110), "g": .integer(0),
                "h": .integer(2),
            ]
        ),
        Case(
            name: "64-bit integer limits",
            toml: "max = 9223372036854775807\nmin = -9223372036854775808\nhex = 0x7FFFFFFFFFFFFFFF",
            expected: ["max": .integer(.max), "min": .integer(.min), "hex": .integer(.max)]
        ),
        Case(
            name: "floats",
            toml: "a = +1.0\nb = 3.1415\nc = -0.01\nd = 5e+22\ne = 1e06\nf = -2E-2\ng = 6.626e-34\n"
                + "h = 224_617.445_991_228\ni = 0e0\nj = -0.0\nk = 1e1_0\nl = 0.5",
            expected: [
                "a": .float(1.0), "b": .float(3.1415), "c": .float(-0.01), "d": .float(5e22), "e": .float(1e6),
                "f": .float(-0.02), "g": .float(6.626e-34), "h": .float(224_617.445_991_228), "i": .float(0),
                "j": .float(-0.0), "k": .float(1e10), "l": .float(0.5),
            ]
        ),
        Case(
            name: "special floats",
            toml: "a = inf\nb = +inf\nc = -inf\nd = nan\ne = +nan\nf = -nan",
            expected: [
                "a": .float(.infinity), "b": .float(.infinity), "c": .float(-.infinity), "d": .float(.nan),
                "e": .float(.nan), "f": .float(.nan),
            ]
        ),
        Case(
            name: "booleans",
            toml: "a = true\nb = false",
            expected: ["a": .boolean(true), "b": .boolean(false)]
        ),

    ]

    private static let dateTimeCases: [Case] = [
        Case(
            name: "offset date-times",
            toml: "a = 1979-05-27T07:32:00Z\nb = 1979-05-27T00:32:00-07:00\nc = 1979-05-27T00:32:00.999999-07:00\n"
                + "d = 1979-05-27 07:32:00Z\ne = 1979-05-27t07:32:00z\nf = 1979-05-27T00:32:00.123456789+05:30",
            expected: [
                "a": .datetime("1979-05-27T07:32:00Z"), "b": .datetime("1979-05-27T00:32:00-07:00"),
                "c": .datetime("1979-05-27T00:32:00.999999-07:00"), "d": .datetime("1979-05-27T07:32:00Z"),
                "e": .datetime("1979-05-27T07:32:00Z"), "f": .datetime("1979-05-27T00:32:00.123456789+05:30"),
            ]
        ),
        Case(
            name: "local date-times",
            toml: "a = 1979-05-27T07:32:00\nb = 1979-05-27 00:32:00.999999 # comment",
            expected: ["a": .datetime("1979-05-27T07:32:00"), "b": .datetime("1979-05-27T00:32:00.999999")]
        ),
        Case(
            name: "local dates and times",
            toml: "a = 1979-05-27\nb = 07:32:00\nc = 00:32:00.999999\nd = 1979-05-27 # a date, then a comment",
            expected: [
                "a": .datetime("1979-05-27"), "b": .datetime("07:32:00"), "c": .datetime("00:32:00.999999"),
                "d": .datetime("1979-05-27"),
            ]
        ),
        Case(
            name: "calendar edges",
            toml: "a = 2024-02-29\nb = 2000-02-29T00:00:00Z\nc = 2021-12-31T23:59:60Z\nd = 2021-04-30",
            expected: [
                "a": .datetime("2024-02-29"), "b": .datetime("2000-02-29T00:00:00Z"),
                "c": .datetime("2021-12-31T23:59:60Z"), "d": .datetime("2021-04-30"),
            ]
        ),

    ]

    private static let arrayCases: [Case] = [
        Case(
            name: "arrays of every kind",
            toml: """
                integers = [ 1, 2, 3 ]
                nested = [ [ 1, 2 ], ["a", 'b'] ]
                strings = [ "all", 'strings', \"\"\"are\"\"\", '''same''' ]
                mixed = [ 0.1, 2, true, 1979-05-27, { x = 1 } ]
                """,
            expected: [
                "integers": .array([.integer(1), .integer(2), .integer(3)]),
                "nested": .array([.array([.integer(1), .integer(2)]), .array([.string("a"), .string("b")])]),
                "strings": .array([.string("all"), .string("strings"), .string("are"), .string("same")]),
                "mixed": .array([
                    .float(0.1), .integer(2), .boolean(true), .datetime("1979-05-27"), .table(["x": .integer(1)]),
                ]),
            ]
        ),
        Case(
            name: "multi-line arrays with comments and trailing commas",
            toml: "a = [\n  1, # one\n  2,\n  # a comment line\n\n  3,\n]\nb = []\nc = [ ]\nd = [\n]\ne = [1,2,]",
            expected: [
                "a": .array([.integer(1), .integer(2), .integer(3)]), "b": .array([]), "c": .array([]),
                "d": .array([]), "e": .array([.integer(1), .integer(2)]),
            ]
        ),

    ]

    private static let inlineTableCases: [Case] = [
        Case(
            name: "inline tables",
            toml: "name = { first = \"Tom\", last = \"Preston-Werner\" }\npoint = {x=1,y=2}\n"
                + "animal = { type.name = \"pug\" }\nempty = {}\nspaced = {  }",
            expected: [
                "name": .table(["first": .string("Tom"), "last": .string("Preston-Werner")]),
                "point": .table(["x": .integer(1), "y": .integer(2)]),
                "animal": .table(["type": .table(["name": .string("pug")])]),
                "empty": .table([:]), "spaced": .table([:]),
            ]
        ),
        Case(
            name: "nested inline tables and arrays",
            toml: "a = { b = { c = [1, { d = 2 }] }, e.f = 3, e.g = 4 }\nh = { i = [\n  1, # inside\n  2,\n] }",
            expected: [
                "a": .table([
                    "b": .table(["c": .array([.integer(1), .table(["d": .integer(2)])])]),
                    "e": .table(["f": .integer(3), "g": .integer(4)]),
                ]),
                "h": .table(["i": .array([.integer(1), .integer(2)])]),
            ]
        ),

    ]

    private static let tableCases: [Case] = [
        Case(
            name: "standard tables",
            toml: "[table-1]\nkey1 = \"some string\"\nkey2 = 123\n\n[table-2]\nkey1 = \"another string\"\nkey2 = 456",
            expected: [
                "table-1": .table(["key1": .string("some string"), "key2": .integer(123)]),
                "table-2": .table(["key1": .string("another string"), "key2": .integer(456)]),
            ]
        ),
        Case(
            name: "table headers with quotes and whitespace",
            toml: "[dog.\"tater.man\"]\ntype.name = \"pug\"\n[ j . \"ʞ\" . 'l' ]\n[\"\"]\nx = 1",
            expected: [
                "dog": .table(["tater.man": .table(["type": .table(["name": .string("pug")])])]),
                "j": .table(["ʞ": .table(["l": .table([:])])]),
                "": .table(["x": .integer(1)]),
            ]
        ),
        Case(
            name: "empty tables and root keys first",
            toml: "top = 0\n[a]\n[b]\n",
            expected: ["top": .integer(0), "a": .table([:]), "b": .table([:])]
        ),
        Case(
            name: "super-table defined after its sub-table",
            toml: "[x.y.z.w]\n[x]\n[a.b.c]\nd = 1\n[a]\ne = 2",
            expected: [
                "x": .table(["y": .table(["z": .table(["w": .table([:])])])]),
                "a": .table(["b": .table(["c": .table(["d": .integer(1)])]), "e": .integer(2)]),
            ]
        ),
        Case(
            name: "sub-table of a table made by dotted keys",
            toml: "[fruit]\napple.color = \"red\"\napple.taste.sweet = true\n[fruit.apple.texture]\nsmooth = true",
            expected: [
                "fruit": .table([
                    "apple": .table([
                        "color": .string("red"), "taste": .table(["sweet": .boolean(true)]),
                        "texture": .table(["smooth": .boolean(true)]),
                    ])
                ])
            ]
        ),
        Case(
            name: "dotted keys through a table created only by a header prefix",
            toml: "[a.b.c]\n[a]\nb.d = 1",
            expected: ["a": .table(["b": .table(["c": .table([:]), "d": .integer(1)])])]
        ),

    ]

    private static let arrayOfTablesCases: [Case] = [
        Case(
            name: "array of tables",
            toml: "[[products]]\nname = \"Hammer\"\nsku = 738594937\n\n[[products]]  # empty table\n\n"
                + "[[products]]\nname = \"Nail\"\nsku = 284758393\ncolor = \"gray\"",
            expected: [
                "products": .array([
                    .table(["name": .string("Hammer"), "sku": .integer(738_594_937)]),
                    .table([:]),
                    .table(["name": .string("Nail"), "sku": .integer(284_758_393), "color": .string("gray")]),
                ])
            ]
        ),
        Case(
            name: "nested arrays of tables and sub-tables of their elements",
            toml: """
                [[fruits]]
                name = "apple"
                [fruits.physical]  # subtable
                color = "red"
                [[fruits.varieties]]
                name = "red delicious"
                [[fruits.varieties]]
                name = "granny smith"
                [[fruits]]
                name = "banana"
                [[fruits.varieties]]
                name = "plantain"
                """,
            expected: [
                "fruits": .array([
                    .table([
                        "name": .string("apple"),
                        "physical": .table(["color": .string("red")]),
                        "varieties": .array([
                            .table(["name": .string("red delicious")]), .table(["name": .string("granny smith")]),
                        ]),
                    ]),
                    .table([
                        "name": .string("banana"),
                        "varieties": .array([.table(["name": .string("plantain")])]),
                    ]),
                ])
            ]
        ),
        Case(
            name: "dotted keys in separate array elements",
            toml: "[[a]]\nb.c = 1\n[[a]]\nb.c = 2",
            expected: [
                "a": .array([.table(["b": .table(["c": .integer(1)])]), .table(["b": .table(["c": .integer(2)])])])
            ]
        ),
    ]

    /// Every case, in the order of the groups above.
    static let cases = [
        Self.structureCases, Self.keyCases, Self.stringCases, Self.numberCases, Self.dateTimeCases, Self.arrayCases,
        Self.inlineTableCases, Self.tableCases, Self.arrayOfTablesCases,
    ].flatMap { $0 }

    @Test(arguments: Self.cases)
    func parsesToTheExpectedValue(_ testCase: Case) throws {
        let table = try TOMLParser.parse(testCase.toml, file: "test.toml")
        #expect(table == testCase.expected)
    }

    @Test func distinguishesSpecialFloatSigns() throws {
        let table = try TOMLParser.parse("a = -inf\nb = -nan\nc = -0.0", file: "test.toml")
        #expect(table.double("a") == -.infinity)
        #expect(table.double("b")?.isNaN == true)
        #expect(table.double("c")?.sign == .minus)
    }

    @Test func typedAccessors() throws {
        let table = try TOMLParser.parse(
            "s = 'x'\ni = 3\nf = 1.5\nb = true\nd = 1979-05-27\na = [1]\n[t]\nk = 'v'", file: "test.toml")
        #expect(table.keys == ["s", "i", "f", "b", "d", "a", "t"])
        #expect(table.string("s") == "x")
        #expect(table.integer("i") == 3)
        #expect(table.double("f") == 1.5)
        #expect(table.double("i") == 3)
        #expect(table.boolean("b") == true)
        #expect(table.datetime("d") == "1979-05-27")
        #expect(table.array("a") == [.integer(1)])
        #expect(table.table("t")?.string("k") == "v")
        #expect(table.string("i") == nil)
        #expect(table["missing"] == nil)
    }
}
