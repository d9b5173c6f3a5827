import Foundation
import PipelineCore
import Testing

/// Checks the reader against Python's `tomllib` on the real-world TensorZero configuration corpus.
struct TOMLCorpusTests {
    /// Loads every corpus file with `tomllib` and prints `{filename: tagged value}` as JSON.
    ///
    /// Scalars are tagged with their Python type so ints, floats and bools stay distinct, and floats are
    /// written with `repr` so NaN and infinities survive; dates and times go through `default=`.
    private static let pythonScript = """
        import datetime, json, os, sys, tomllib

        def offset(value):
            delta = value.utcoffset()
            if delta is None:
                return ""
            minutes = int(delta.total_seconds()) // 60
            sign = "-" if minutes < 0 else "+"
            minutes = abs(minutes)
            return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"

        def clock(value):
            return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond:06d}"

        def default(value):
            if isinstance(value, datetime.datetime):
                date = f"{value.year:04d}-{value.month:02d}-{value.day:02d}"
                return {"datetime": date + "T" + clock(value) + offset(value)}
            if isinstance(value, datetime.date):
                return {"datetime": f"{value.year:04d}-{value.month:02d}-{value.day:02d}"}
            if isinstance(value, datetime.time):
                return {"datetime": clock(value)}
            raise TypeError(type(value).__name__)

        def tag(value):
            if isinstance(value, bool):
                return {"boolean": "true" if value else "false"}
            if isinstance(value, int):
                return {"integer": str(value)}
            if isinstance(value, float):
                return {"float": repr(value)}
            if isinstance(value, str):
                return {"string": value}
            if isinstance(value, list):
                return {"array": [tag(item) for item in value]}
            if isinstance(value, dict):
                return {"table": {key: tag(item) for key, item in value.items()}}
            return value

        directory = sys.argv[1]
        result = {}
        for name in sorted(os.listdir(directory)):
            if name.endswith(".toml"):
                with open(os.path.join(directory, name), "rb") as file:
                    result[name] = tag(tomllib.load(file))
        json.dump(result, sys.stdout, default=default)
        """

    @Test func everyCorpusFileParsesAndMatchesPythonTomllib() throws {
        let directory = try #require(TOMLTestSupport.corpusDirectory())
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".toml") }
            .sorted()
        let expected = try Self.runPython(directory: directory)
        #expect(expected.count == names.count)

        var parsedCount = 0
        for name in names {
            let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            let table: TOMLTable
            do {
                table = try TOMLParser.parse(text, file: name)
            } catch {
                Issue.record("\(name) does not parse: \(error)")
                continue
            }
            parsedCount += 1
            guard let pythonValue = expected[name] else {
                Issue.record("tomllib printed nothing for \(name)")
                continue
            }
            if let difference = Self.firstDifference(.table(table), pythonValue, path: "") {
                Issue.record("\(name) differs from tomllib at \(difference)")
            }
        }
        #expect(parsedCount == 110)
    }

    /// Runs the Python script once over the corpus directory and decodes its output.
    private static func runPython(directory: URL) throws -> [String: Any] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.pythonScript, directory.path]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "python3 with tomllib failed")
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// A description of the first place where a parsed value and a tagged `tomllib` value differ, or `nil`.
    private static func firstDifference(_ value: TOMLValue, _ python: Any, path: String) -> String? {
        let here = path.isEmpty ? "the root" : "'\(path)'"
        guard let tagged = python as? [String: Any], tagged.count == 1, let (kind, payload) = tagged.first else {
            return "\(here): unexpected Python output \(python)"
        }
        switch (value, kind) {
        case (.string(let string), "string"):
            return payload as? String == string ? nil : "\(here): \(string.debugDescription) vs \(payload)"
        case (.integer(let integer), "integer"):
            return payload as? String == String(integer) ? nil : "\(here): \(integer) vs \(payload)"
        case (.boolean(let boolean), "boolean"):
            return payload as? String == String(boolean) ? nil : "\(here): \(boolean) vs \(payload)"
        case (.float(let float), "float"):
            guard let text = payload as? String, let pythonFloat = Self.pythonFloat(text) else {
                return "\(here): unreadable Python float \(payload)"
            }
            let isSame = float.isNaN ? pythonFloat.isNaN : float == pythonFloat
            return isSame ? nil : "\(here): \(float) vs \(text)"
        case (.datetime(let text), "datetime"):
            let canonical = TOMLTestSupport.canonicalDateTime(text)
            return payload as? String == canonical ? nil : "\(here): \(canonical) vs \(payload)"
        case (.array(let elements), "array"):
            guard let pythonElements = payload as? [Any], pythonElements.count == elements.count else {
                return "\(here): array of \(elements.count) elements vs \(payload)"
            }
            for (index, element) in elements.enumerated() {
                if let difference = Self.firstDifference(element, pythonElements[index], path: "\(path)[\(index)]") {
                    return difference
                }
            }
            return nil
        case (.table(let table), "table"):
            guard let pythonTable = payload as? [String: Any] else {
                return "\(here): table vs \(payload)"
            }
            if Set(table.keys) != Set(pythonTable.keys) {
                let missing = Set(pythonTable.keys).subtracting(table.keys).sorted()
                let extra = Set(table.keys).subtracting(pythonTable.keys).sorted()
                return "\(here): keys missing \(missing), unexpected \(extra)"
            }
            for (key, item) in table.entries {
                let itemPath = path.isEmpty ? key : "\(path).\(key)"
                if let pythonItem = pythonTable[key],
                    let difference = Self.firstDifference(item, pythonItem, path: itemPath)
                {
                    return difference
                }
            }
            return nil
        default:
            return "\(here): Swift has \(value.typeName), Python has \(kind)"
        }
    }

    /// A float from Python's `repr`, spelling out the special values rather than trusting a parser with them.
    private static func pythonFloat(_ text: String) -> Double? {
        switch text {
        case "nan": .nan
        case "inf": .infinity
        case "-inf": -.infinity
        default: Double(text)
        }
    }
}
