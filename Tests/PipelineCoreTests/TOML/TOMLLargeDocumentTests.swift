import Foundation
import PipelineCore
import Testing

/// Parses a large generated document; timing is for the benchmark, never asserted here (machines are shared).
struct TOMLLargeDocumentTests {
    /// A 60 KB document using most of TOML's syntax.
    private static func sixtyKilobyteDocument() -> String {
        var text = "# generated\ntitle = \"performance\"\n"
        var index = 0
        while text.utf8.count < 60_000 {
            text += """

                [functions.f\(index)]
                type = "chat"
                description = \"\"\"
                A multi-line description with an escape \\t and a "quote".\"\"\"
                pattern = '^[a-z]+\\d{2}$'
                weights = [0.25, 0.5, 1e-3, -2_000.5]
                limits = { max_tokens = 1_024, temperature = 0.7, stop = ["\\n", "###"] }
                created = 2024-01-15T10:30:00Z
                retries.count = 3
                retries.backoff = 0x10

                [[functions.f\(index).variants]]
                name = "v\(index)"  # comment
                enabled = true

                """
            index += 1
        }
        return text
    }

    @Test func parsesSixtyKilobytesOfMixedSyntax() throws {
        let text = Self.sixtyKilobyteDocument()

        let table = try TOMLParser.parse(text, file: "large.toml")

        let functions = try #require(table.table("functions"))
        #expect(functions.count > 100)
        let first = try #require(functions.table("f0"))
        #expect(first.table("retries")?.integer("backoff") == 16)
        #expect(first.array("variants")?.count == 1)
        #expect(first.datetime("created") == "2024-01-15T10:30:00Z")
    }
}
