/// The parts of a TensorZero config file the worker routes audio by: functions, their variants, models, providers.
///
/// Read leniently: sections and keys the worker does not use (`[gateway]`, `[metrics.*]`, `[tools.*]`, templates,
/// ...) are ignored, because the gateway's schema grows; a key the worker does use must have the right type.
package struct GatewayConfig: Sendable, Equatable {
    /// Functions by name.
    package var functions: [String: FunctionConfig]
    /// Models by name.
    package var models: [String: ModelConfig]

    /// Creates a configuration.
    package init(functions: [String: FunctionConfig] = [:], models: [String: ModelConfig] = [:]) {
        self.functions = functions
        self.models = models
    }

    /// Reads the gateway sections of a parsed TensorZero config file.
    package init(_ root: ConfigTable) throws(ConfigError) {
        self.init()
        if let functions = try root.table("functions") {
            for (name, table) in try functions.subtables() {
                self.functions[name] = try FunctionConfig(name: name, table: table)
            }
        }
        if let models = try root.table("models") {
            for (name, table) in try models.subtables() {
                self.models[name] = try ModelConfig(name: name, table: table, strict: false)
            }
        }
    }
}

/// A TensorZero function: variants and how to choose among them.
package struct FunctionConfig: Sendable, Equatable {
    /// The function's name.
    package var name: String
    /// `chat` or `json`.
    package var type: String
    /// Variants in document order.
    package var variants: [VariantConfig]
    /// Candidate and fallback variants, when the function has an `[experimentation]` section.
    package var experimentation: ExperimentationConfig?
    /// Where the function is defined.
    package var location: TOMLLocation?

    /// Creates a function.
    package init(
        name: String, type: String = "chat", variants: [VariantConfig], experimentation: ExperimentationConfig? = nil,
        location: TOMLLocation? = nil
    ) {
        self.name = name
        self.type = type
        self.variants = variants
        self.experimentation = experimentation
        self.location = location
    }

    init(name: String, table: ConfigTable) throws(ConfigError) {
        var variants: [VariantConfig] = []
        if let variantTables = try table.table("variants") {
            for (variantName, variantTable) in try variantTables.subtables() {
                variants.append(try VariantConfig(name: variantName, table: variantTable))
            }
        }
        let experimentation = try table.table("experimentation").map { table throws(ConfigError) in
            try ExperimentationConfig(table)
        }
        self.init(
            name: name, type: try table.string("type") ?? "chat", variants: variants,
            experimentation: experimentation, location: table.table.location)
    }

    /// The variant called `name`, if any.
    package func variant(named name: String) -> VariantConfig? { self.variants.first { $0.name == name } }
}

/// One variant of a function: which model it calls, and how often it retries.
package struct VariantConfig: Sendable, Equatable {
    /// The variant's name.
    package var name: String
    /// `chat_completion`, or an advanced type the worker cannot use for audio.
    package var type: String
    /// The model's name, or a shorthand `provider_type::model_name`.
    package var model: String?
    /// The deprecated per-variant sampling weight.
    package var weight: Double?
    /// Retries of the whole variant after its first attempt.
    package var retries: RetrySettings
    /// The time allowed for the variant, all retries included.
    package var timeout: Duration?
    /// Where the variant is defined.
    package var location: TOMLLocation?

    /// Creates a variant.
    package init(
        name: String, type: String = "chat_completion", model: String?, weight: Double? = nil,
        retries: RetrySettings = RetrySettings(), timeout: Duration? = nil, location: TOMLLocation? = nil
    ) {
        self.name = name
        self.type = type
        self.model = model
        self.weight = weight
        self.retries = retries
        self.timeout = timeout
        self.location = location
    }

    init(name: String, table: ConfigTable) throws(ConfigError) {
        self.init(
            name: name, type: try table.string("type") ?? "chat_completion", model: try table.string("model"),
            weight: try table.number("weight", in: 0...Double.greatestFiniteMagnitude),
            retries: try table.table("retries").map { table throws(ConfigError) in try RetrySettings(table) }
                ?? RetrySettings(),
            timeout: try ConfigTable.timeout(in: table), location: table.table.location)
    }
}

/// TensorZero's variant `retries = { num_retries, max_delay_s }`.
package struct RetrySettings: Sendable, Equatable {
    /// Retries after the first attempt (so `num_retries + 1` attempts).
    package var numRetries: Int
    /// The longest backoff between attempts.
    package var maxDelay: Duration

    /// Creates settings; TensorZero's defaults are no retries and a 10 s cap.
    package init(numRetries: Int = 0, maxDelay: Duration = .seconds(10)) {
        self.numRetries = numRetries
        self.maxDelay = maxDelay
    }

    init(_ table: ConfigTable) throws(ConfigError) {
        self.init(
            numRetries: try table.integer("num_retries", in: 0...100) ?? 0,
            maxDelay: .seconds(try table.number("max_delay_s", in: 0...3600) ?? 10))
    }
}

/// A function's `[experimentation]`: candidates drawn by weight, then fallbacks in order.
package struct ExperimentationConfig: Sendable, Equatable {
    /// The sampling type (`uniform`, `static_weights`, `static`, an adaptive type...).
    package var type: String?
    /// Candidate variants and their weights (equal weights for a plain list).
    package var candidates: [(name: String, weight: Double)]
    /// Variants tried in order after every candidate failed.
    package var fallbacks: [String]

    /// Creates a configuration.
    package init(type: String? = nil, candidates: [(name: String, weight: Double)], fallbacks: [String]) {
        self.type = type
        self.candidates = candidates
        self.fallbacks = fallbacks
    }

    init(_ table: ConfigTable) throws(ConfigError) {
        var candidates: [(name: String, weight: Double)] = []
        if case .table = table.table["candidate_variants"], let weights = try table.table("candidate_variants") {
            for key in weights.table.keys {
                candidates.append((key, try weights.number(key, in: 0...Double.greatestFiniteMagnitude) ?? 0))
            }
        } else if let names = try table.strings("candidate_variants") {
            candidates = names.map { ($0, 1.0) }
        }
        self.init(
            type: try table.string("type"), candidates: candidates,
            fallbacks: try table.strings("fallback_variants") ?? [])
    }

    package static func == (lhs: ExperimentationConfig, rhs: ExperimentationConfig) -> Bool {
        lhs.type == rhs.type && lhs.fallbacks == rhs.fallbacks
            && lhs.candidates.map(\.name) == rhs.candidates.map(\.name)
            && lhs.candidates.map(\.weight) == rhs.candidates.map(\.weight)
    }
}

extension ConfigTable {
    /// TensorZero's `timeouts = { non_streaming = { total_ms = N } }` (dotted or nested), as a duration.
    static func timeout(in table: ConfigTable) throws(ConfigError) -> Duration? {
        guard let timeouts = try table.table("timeouts"), let nonStreaming = try timeouts.table("non_streaming"),
            let milliseconds = try nonStreaming.integer("total_ms", in: 1...86_400_000)
        else { return nil }
        return .milliseconds(milliseconds)
    }
}
