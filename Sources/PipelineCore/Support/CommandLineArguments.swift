/// The options and operands of one command, parsed against what the command accepts.
///
/// Accepts `--name value`, `--name=value`, short aliases (`-o value`), flags, and `--` to end options.
/// Options may appear anywhere after the subcommand; a value option may repeat (`values(_:)` gives all).
package struct CommandLineArguments: Sendable, Equatable {
    /// What a command accepts.
    package struct Specification: Sendable {
        /// Options that take a value, with their leading dashes (`--rate`).
        package var valueOptions: Set<String>
        /// Options that take no value.
        package var flags: Set<String>
        /// Short spellings mapped to their long names (`-o` → `--output`).
        package var aliases: [String: String]

        /// Creates a specification.
        package init(valueOptions: Set<String> = [], flags: Set<String> = [], aliases: [String: String] = [:]) {
            self.valueOptions = valueOptions
            self.flags = flags
            self.aliases = aliases
        }
    }

    /// Operands, in order.
    package private(set) var operands: [String] = []
    private var values: [String: [String]] = [:]
    private var setFlags: Set<String> = []

    /// Parses `arguments` (without the program and subcommand names).
    package init(_ arguments: [String], accepting specification: Specification) throws(UsageError) {
        var index = 0
        var optionsEnded = false
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if optionsEnded || argument == "-" || !argument.hasPrefix("-") {
                self.operands.append(argument)
                continue
            }
            if argument == "--" {
                optionsEnded = true
                continue
            }
            var name = argument
            var inlineValue: String? = nil
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                name = String(argument[..<equals])
                inlineValue = String(argument[argument.index(after: equals)...])
            }
            name = specification.aliases[name] ?? name
            if specification.flags.contains(name) {
                guard inlineValue == nil else { throw UsageError("option \(name) takes no value") }
                self.setFlags.insert(name)
            } else if specification.valueOptions.contains(name) {
                if let inlineValue {
                    self.values[name, default: []].append(inlineValue)
                } else {
                    guard index < arguments.count else { throw UsageError("option \(name) needs a value") }
                    self.values[name, default: []].append(arguments[index])
                    index += 1
                }
            } else {
                throw UsageError("unknown option \(name)")
            }
        }
    }

    /// Whether `flag` was given.
    package func flag(_ flag: String) -> Bool { self.setFlags.contains(flag) }

    /// The last value given for `option`, or nil.
    package func value(_ option: String) -> String? { self.values[option]?.last }

    /// Every value given for `option`, in order.
    package func values(_ option: String) -> [String] { self.values[option] ?? [] }

    /// The value of `option` as an integer within `range`, or nil when absent.
    package func integer(_ option: String, in range: ClosedRange<Int>) throws(UsageError) -> Int? {
        guard let text = self.value(option) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw UsageError(
                "option \(option) needs an integer from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
        }
        return number
    }

    /// The value of `option` as a number within `range`, or nil when absent.
    package func number(_ option: String, in range: ClosedRange<Double>) throws(UsageError) -> Double? {
        guard let text = self.value(option) else { return nil }
        guard let number = Double(text), number.isFinite, range.contains(number) else {
            throw UsageError(
                "option \(option) needs a number from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
        }
        return number
    }

    /// The operands, checked to number between `minimum` and `maximum`.
    package func operands(named name: String, minimum: Int, maximum: Int = .max) throws(UsageError) -> [String] {
        if self.operands.count < minimum {
            throw UsageError("missing \(name)")
        }
        if self.operands.count > maximum {
            throw UsageError("unexpected argument '\(self.operands[maximum])'")
        }
        return self.operands
    }
}
