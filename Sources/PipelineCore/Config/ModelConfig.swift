/// A model: the providers that serve it, tried in `routing` order.
package struct ModelConfig: Sendable, Equatable {
    /// The model's name.
    package var name: String
    /// Provider names in the order to try them.
    package var routing: [String]
    /// Providers by name.
    package var providers: [String: ProviderConfig]
    /// The time allowed for the model, all providers included.
    package var timeout: Duration?
    /// Where the model is defined.
    package var location: TOMLLocation?

    /// Creates a model.
    package init(
        name: String, routing: [String], providers: [String: ProviderConfig], timeout: Duration? = nil,
        location: TOMLLocation? = nil
    ) {
        self.name = name
        self.routing = routing
        self.providers = providers
        self.timeout = timeout
        self.location = location
    }

    /// Reads `[models.NAME]`; `strict` (the worker's own file) also rejects unknown keys.
    init(name: String, table: ConfigTable, strict: Bool) throws(ConfigError) {
        if strict {
            try table.rejectUnknownKeys(allowing: ["routing", "providers", "timeouts"])
        }
        var providers: [String: ProviderConfig] = [:]
        if let providerTables = try table.table("providers") {
            for (providerName, providerTable) in try providerTables.subtables() {
                providers[providerName] = try ProviderConfig(name: providerName, table: providerTable, strict: strict)
            }
        }
        self.init(
            name: name, routing: try table.strings("routing") ?? [], providers: providers,
            timeout: try ConfigTable.timeout(in: table), location: table.table.location)
    }
}

/// One provider of a model: its API type, endpoint, credentials and audio settings.
package struct ProviderConfig: Sendable, Equatable {
    /// The provider's name within its model.
    package var name: String
    /// The provider type (`openai`, `groq`, `elevenlabs`, ...).
    package var type: String
    /// The model name the provider's API expects.
    package var modelName: String?
    /// The API base URL, such as `http://127.0.0.1:8000/v1`; nil for the type's default.
    package var apiBase: String?
    /// Where the API key comes from; nil for the type's default.
    package var apiKeyLocation: CredentialLocation?
    /// The time allowed for one request.
    package var timeout: Duration?
    /// Audio settings from the worker's file.
    package var audio: AudioProviderSettings
    /// Where the provider is defined.
    package var location: TOMLLocation?

    /// Creates a provider.
    package init(
        name: String, type: String, modelName: String?, apiBase: String? = nil,
        apiKeyLocation: CredentialLocation? = nil, timeout: Duration? = nil,
        audio: AudioProviderSettings = AudioProviderSettings(), location: TOMLLocation? = nil
    ) {
        self.name = name
        self.type = type
        self.modelName = modelName
        self.apiBase = apiBase
        self.apiKeyLocation = apiKeyLocation
        self.timeout = timeout
        self.audio = audio
        self.location = location
    }

    /// Reads `[models.M.providers.NAME]`; `strict` (the worker's file) reads audio settings and rejects unknown keys.
    init(name: String, table: ConfigTable, strict: Bool) throws(ConfigError) {
        if strict {
            try table.rejectUnknownKeys(
                allowing: AudioProviderSettings.keys.union([
                    "type", "model_name", "api_base", "api_key_location", "timeouts",
                ]))
        }
        self.init(
            name: name, type: try table.string("type") ?? "", modelName: try table.string("model_name"),
            apiBase: try table.string("api_base"), apiKeyLocation: try Self.credentialLocation(in: table),
            timeout: try ConfigTable.timeout(in: table),
            audio: strict ? try AudioProviderSettings(table) : AudioProviderSettings(),
            location: table.table.location)
    }

    private static func credentialLocation(in table: ConfigTable) throws(ConfigError) -> CredentialLocation? {
        if case .table(let inner) = table.table["api_key_location"] {
            let nested = ConfigTable(inner, path: table.qualified("api_key_location"), file: table.file)
            guard let primary = try nested.string("default"), let first = CredentialLocation(parsing: primary) else {
                throw nested.error("default", "api_key_location needs a 'default' location such as \"env::KEY\"")
            }
            guard let fallbackText = try nested.string("fallback") else { return first }
            guard let second = CredentialLocation(parsing: fallbackText) else {
                throw nested.error("fallback", "'\(fallbackText)' is not a credential location")
            }
            return .withFallback(first, second)
        }
        guard let text = try table.string("api_key_location") else { return nil }
        guard let location = CredentialLocation(parsing: text) else {
            throw table.error(
                "api_key_location",
                "'\(text)' is not a credential location (env::VAR, path::FILE, path_from_env::VAR, dynamic::NAME, "
                    + "sdk or none)")
        }
        return location
    }
}
