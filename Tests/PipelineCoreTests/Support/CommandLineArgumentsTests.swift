import PipelineCore
import Testing

struct CommandLineArgumentsTests {
    let specification = CommandLineArguments.Specification(
        valueOptions: ["--output", "--rate", "--format"], flags: ["--force"], aliases: ["-o": "--output"])

    @Test
    func optionsMayComeBeforeOrAfterOperandsInEitherSpelling() throws {
        let parsed = try CommandLineArguments(
            ["in.mp3", "-o", "out.wav", "--rate=8000", "--force", "second.mp3"], accepting: self.specification)

        #expect(parsed.operands == ["in.mp3", "second.mp3"])
        #expect(parsed.value("--output") == "out.wav")
        #expect(try parsed.integer("--rate", in: 1000...48_000) == 8000)
        #expect(parsed.flag("--force"))
    }

    @Test
    func repeatedOptionsKeepEveryValueAndTheLastWins() throws {
        let parsed = try CommandLineArguments(
            ["--format", "json", "--format", "srt"], accepting: self.specification)

        #expect(parsed.values("--format") == ["json", "srt"])
        #expect(parsed.value("--format") == "srt")
    }

    @Test
    func aDoubleDashEndsOptions() throws {
        let parsed = try CommandLineArguments(["--", "--force", "-o"], accepting: self.specification)

        #expect(parsed.operands == ["--force", "-o"])
        #expect(!parsed.flag("--force"))
    }

    @Test(arguments: [
        (["--bogus"], "unknown option --bogus"),
        (["-o"], "option --output needs a value"),
        (["--force=yes"], "option --force takes no value"),
    ])
    func malformedCommandLinesAreUsageErrors(arguments: [String], message: String) {
        #expect(throws: UsageError(message)) {
            try CommandLineArguments(arguments, accepting: self.specification)
        }
    }

    @Test
    func numbersOutsideTheirRangeAreUsageErrors() throws {
        let parsed = try CommandLineArguments(["--rate", "12x"], accepting: self.specification)

        #expect(throws: UsageError("option --rate needs an integer from 1000 to 48000, got '12x'")) {
            try parsed.integer("--rate", in: 1000...48_000)
        }
    }

    @Test
    func operandCountsAreChecked() throws {
        let parsed = try CommandLineArguments(["a", "b"], accepting: self.specification)

        #expect(throws: UsageError("unexpected argument 'b'")) {
            try parsed.operands(named: "INPUT", minimum: 1, maximum: 1)
        }
        #expect(throws: UsageError("missing INPUT")) {
            try CommandLineArguments([], accepting: self.specification).operands(named: "INPUT", minimum: 1)
        }
    }
}
