import PipelineCore
import Testing

/// Checks where the reader says keys and tables were defined.
struct TOMLLocationTests {
    private static let document = """
        title = "x"
          indented = 1
        a.b.c = 2
        "日本".k = 3
        [server]
        port = 8080
        [ servers . alpha ]
        ip = "10.0.0.1"
        [[items]]
        name = "one"
        [[items]]
        inline = { x = 1 }
        [outer.inner]
        [outer]
        """

    private static func location(_ line: Int, _ column: Int) -> TOMLLocation {
        TOMLLocation(file: "loc.toml", line: line, column: column)
    }

    @Test func keysDefinedByKeyValuePairs() throws {
        let root = try TOMLParser.parse(Self.document, file: "loc.toml")
        #expect(root.location == nil)
        #expect(root.location(of: "title") == Self.location(1, 1))
        #expect(root.location(of: "indented") == Self.location(2, 3))
        #expect(root.table("server")?.location(of: "port") == Self.location(6, 1))
        #expect(root.location(of: "missing") == nil)
    }

    @Test func keysDefinedByDottedKeys() throws {
        let root = try TOMLParser.parse(Self.document, file: "loc.toml")
        #expect(root.location(of: "a") == Self.location(3, 1))
        let a = try #require(root.table("a"))
        #expect(a.location == Self.location(3, 1))
        #expect(a.location(of: "b") == Self.location(3, 3))
        #expect(a.table("b")?.location(of: "c") == Self.location(3, 5))
        // Columns count Unicode scalars, not bytes: "日本" is four scalars wide with its quotes.
        #expect(root.location(of: "日本") == Self.location(4, 1))
        #expect(root.table("日本")?.location(of: "k") == Self.location(4, 6))
    }

    @Test func tablesDefinedByHeaders() throws {
        let root = try TOMLParser.parse(Self.document, file: "loc.toml")
        #expect(root.location(of: "server") == Self.location(5, 1))
        #expect(root.table("server")?.location == Self.location(5, 1))
        #expect(root.location(of: "servers") == Self.location(7, 1))
        #expect(root.table("servers")?.location(of: "alpha") == Self.location(7, 1))
        #expect(root.table("servers")?.table("alpha")?.location(of: "ip") == Self.location(8, 1))
        // A table first created implicitly counts as defined by the header that defines it explicitly.
        #expect(root.location(of: "outer") == Self.location(14, 1))
        #expect(root.table("outer")?.location(of: "inner") == Self.location(13, 1))
    }

    @Test func arraysOfTablesAndInlineTables() throws {
        let root = try TOMLParser.parse(Self.document, file: "loc.toml")
        #expect(root.location(of: "items") == Self.location(9, 1))
        let items = try #require(root.array("items"))
        #expect(items.count == 2)
        #expect(items[0].tableValue?.location == Self.location(9, 1))
        #expect(items[0].tableValue?.location(of: "name") == Self.location(10, 1))
        let second = try #require(items[1].tableValue)
        #expect(second.location == Self.location(11, 1))
        #expect(second.location(of: "inline") == Self.location(12, 1))
        #expect(second.table("inline")?.location == Self.location(12, 10))
        #expect(second.table("inline")?.location(of: "x") == Self.location(12, 12))
    }

    @Test func locationsAfterAByteOrderMarkAndCRLF() throws {
        let root = try TOMLParser.parse("\u{FEFF}a = 1\r\n  b = 2\r\n", file: "loc.toml")
        #expect(root.location(of: "a") == Self.location(1, 1))
        #expect(root.location(of: "b") == Self.location(2, 3))
    }

    @Test func equalityIgnoresLocations() throws {
        let first = try TOMLParser.parse("a = 1\n[t]\nk = 'v'", file: "one.toml")
        let second = try TOMLParser.parse("\n\na=1\n  [ t ]\n  k='v'", file: "two.toml")
        #expect(first == second)
        #expect(first != (try TOMLParser.parse("[t]\nk = 'v'\n", file: "one.toml")))
    }
}
