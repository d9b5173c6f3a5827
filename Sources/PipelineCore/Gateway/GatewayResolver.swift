import Foundation

/// Merges the gateway file (TensorZero's schema) with the worker's file and resolves an audio function to its
/// variants and providers, checking every reference and saying where a broken one is.
package struct GatewayResolver: Sendable {
    private let gateway: GatewayConfig
    private let gatewayFile: String
    private let worker: WorkerConfig
    private let workerFile: String
    private let environment: [String: String]
    private let apiBaseOverrides: [String: [String: String]]

    /// Creates a resolver; `environment` supplies keys (`env::VAR`) and `AUDIO_WORKER_API_BASE__M__P` overrides.
    package init(
        gateway: GatewayConfig, gatewayFile: String, worker: WorkerConfig, workerFile: String,
        environment: [String: String]
    ) {
        self.gateway = gateway
        self.gatewayFile = gatewayFile
        self.worker = worker
        self.workerFile = workerFile
        self.environment = environment
        self.apiBaseOverrides = WorkerConfig.apiBaseOverrides(environment)
    }

    /// Resolves `function` for `capability`.
    package func resolve(_ function: String, as capability: ResolvedFunction.Capability) throws(ConfigError)
        -> ResolvedFunction
    {
        let definition = self.gateway.functions[function]
        let extras = self.worker.extraVariants[function] ?? []
        guard definition != nil || !extras.isEmpty else {
            throw ConfigError(file: self.gatewayFile, message: "function '\(function)' is not defined")
        }
        let variants = definition?.variants ?? []
        let (candidates, fallbacks) = try self.sampling(of: definition)
        var known = Set(candidates.map(\.variant.name) + fallbacks.map(\.name))
        var resolvedExtras: [(variant: ResolvedVariant, position: String)] = []
        for extra in extras {
            if variants.contains(where: { $0.name == extra.variant.name }) {
                throw ConfigError(
                    file: self.workerFile, location: extra.variant.location,
                    message: "variant '\(extra.variant.name)' of function '\(function)' is already in the gateway file")
            }
            if let anchor = extra.position.split(separator: ":", maxSplits: 1).dropFirst().first,
                !known.contains(String(anchor))
            {
                throw ConfigError(
                    file: self.workerFile, location: extra.variant.location,
                    message: "position '\(extra.position)' names no variant of function '\(function)'")
            }
            known.insert(extra.variant.name)
            resolvedExtras.append(
                (try self.resolve(extra.variant, file: self.workerFile, as: capability), extra.position))
        }
        return ResolvedFunction(
            name: function, capability: capability,
            candidates: try candidates.map { entry throws(ConfigError) in
                (try self.resolve(entry.variant, file: self.gatewayFile, as: capability), entry.weight)
            },
            fallbacks: try fallbacks.map { variant throws(ConfigError) in
                try self.resolve(variant, file: self.gatewayFile, as: capability)
            },
            extras: resolvedExtras)
    }

    /// Candidates and fallbacks as TensorZero samples them: `[experimentation]`, else the deprecated variant
    /// weights (zero-weight variants become fallbacks), else every variant uniformly.
    private func sampling(of function: FunctionConfig?) throws(ConfigError) -> (
        candidates: [(variant: VariantConfig, weight: Double)], fallbacks: [VariantConfig]
    ) {
        guard let function else { return ([], []) }
        if let experimentation = function.experimentation {
            func find(_ name: String, _ role: String) throws(ConfigError) -> VariantConfig {
                guard let variant = function.variant(named: name) else {
                    throw ConfigError(
                        file: self.gatewayFile, location: function.location,
                        message: "\(role) variant '\(name)' of function '\(function.name)' is not defined")
                }
                return variant
            }
            var candidates: [(variant: VariantConfig, weight: Double)] = []
            for candidate in experimentation.candidates {
                candidates.append((try find(candidate.name, "candidate"), candidate.weight))
            }
            var fallbacks: [VariantConfig] = []
            for name in experimentation.fallbacks {
                fallbacks.append(try find(name, "fallback"))
            }
            return (candidates, fallbacks)
        }
        if function.variants.contains(where: { $0.weight != nil }) {
            let candidates = function.variants.filter { ($0.weight ?? 0) > 0 }.map { ($0, $0.weight ?? 0) }
            return (candidates, function.variants.filter { ($0.weight ?? 0) == 0 })
        }
        return (function.variants.map { ($0, 1.0) }, [])
    }

    private func resolve(_ variant: VariantConfig, file: String, as capability: ResolvedFunction.Capability)
        throws(ConfigError) -> ResolvedVariant
    {
        guard variant.type == "chat_completion" else {
            let skipped = self.unavailable(
                model: variant.model ?? "-", reason: "variant type '\(variant.type)' cannot serve audio")
            return ResolvedVariant(
                name: variant.name, retries: variant.retries, timeout: variant.timeout, providers: [skipped])
        }
        guard let model = variant.model else {
            throw ConfigError(file: file, location: variant.location, message: "variant '\(variant.name)' has no model")
        }
        return ResolvedVariant(
            name: variant.name, retries: variant.retries, timeout: variant.timeout,
            providers: try self.providers(ofModel: model, usedBy: variant, file: file, as: capability))
    }

    private func providers(
        ofModel name: String, usedBy variant: VariantConfig, file: String, as capability: ResolvedFunction.Capability
    ) throws(ConfigError) -> [ResolvedProvider] {
        let overlay = self.worker.models[name]
        if let model = self.gateway.models[name] {
            if let overlay, !overlay.routing.isEmpty {
                throw ConfigError(
                    file: self.workerFile, location: overlay.location,
                    message: "model '\(name)' is defined in the gateway file; set its routing there")
            }
            for (providerName, extra) in overlay?.providers ?? [:] {
                guard model.providers[providerName] != nil else {
                    throw ConfigError(
                        file: self.workerFile, location: extra.location,
                        message: "model '\(name)' has no provider '\(providerName)' in the gateway file")
                }
                if !extra.type.isEmpty || extra.modelName != nil || extra.apiKeyLocation != nil {
                    throw ConfigError(
                        file: self.workerFile, location: extra.location,
                        message: "provider '\(providerName)' of gateway model '\(name)': type, model_name and "
                            + "api_key_location belong in the gateway file; only audio settings, api_base and timeouts go here"
                    )
                }
            }
            var model = model
            if let shorter = overlay?.timeout {
                // The worker file may shorten a gateway model's timeout (it can never lengthen it: the shorter of
                // the model's and a provider's applies).
                model.timeout = min(shorter, model.timeout ?? shorter)
            }
            return try self.providers(of: model, overlay: overlay, file: self.gatewayFile, as: capability)
        }
        if let overlay {
            return try self.providers(of: overlay, overlay: nil, file: self.workerFile, as: capability)
        }
        let parts = name.components(separatedBy: "::")
        if parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty {
            let shorthand = ModelConfig(
                name: name, routing: [parts[0]],
                providers: [parts[0]: ProviderConfig(name: parts[0], type: parts[0], modelName: parts[1])])
            return try self.providers(of: shorthand, overlay: nil, file: file, as: capability)
        }
        throw ConfigError(
            file: file, location: variant.location,
            message: "model '\(name)' of variant '\(variant.name)' is defined in neither \(self.gatewayFile) nor "
                + self.workerFile)
    }

    private func providers(
        of model: ModelConfig, overlay: ModelConfig?, file: String, as capability: ResolvedFunction.Capability
    ) throws(ConfigError) -> [ResolvedProvider] {
        guard !model.routing.isEmpty else {
            throw ConfigError(
                file: file, location: model.location, message: "model '\(model.name)' has an empty routing")
        }
        var resolved: [ResolvedProvider] = []
        for providerName in model.routing {
            guard var provider = model.providers[providerName] else {
                throw ConfigError(
                    file: file, location: model.location,
                    message:
                        "routing of model '\(model.name)' names provider '\(providerName)', which it does not define")
            }
            if let extra = overlay?.providers[providerName] {
                provider.audio = provider.audio.merged(with: extra.audio)
                provider.apiBase = extra.apiBase ?? provider.apiBase
                provider.timeout = extra.timeout ?? provider.timeout
            }
            resolved.append(try self.resolve(provider, of: model, file: file, as: capability))
        }
        return resolved
    }

    private func resolve(
        _ provider: ProviderConfig, of model: ModelConfig, file: String, as capability: ResolvedFunction.Capability
    ) throws(ConfigError) -> ResolvedProvider {
        let type = ProviderType.known[provider.type]
        let credential = provider.apiKeyLocation ?? type?.defaultCredential ?? .none
        let base = self.apiBaseOverrides[model.name]?[provider.name] ?? provider.apiBase ?? type?.defaultAPIBase
        var apiBase: URL? = nil
        if let base {
            guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https", url.host != nil else {
                throw ConfigError(
                    file: file, location: provider.location,
                    message:
                        "api_base '\(URL.redactingCredentials(in: base))' of provider '\(provider.name)' is not an http(s) URL"
                )
            }
            apiBase = url
        }
        var result = ResolvedProvider(
            model: model.name, name: provider.name, type: provider.type, modelName: provider.modelName,
            apiBase: apiBase, endpoint: nil, apiKey: nil, credential: credential,
            timeout: [provider.timeout, model.timeout].compactMap { $0 }.min() ?? .seconds(120),
            settings: provider.audio, definedIn: file)
        guard let type else {
            result.skipReason = "provider type '\(provider.type)' has no audio API the worker can call"
            return result
        }
        switch capability {
        case .transcription where !type.transcribes:
            result.skipReason = "provider type '\(type.name)' has no speech-to-text API"
            return result
        case .speech where !type.speaks:
            result.skipReason = "provider type '\(type.name)' has no text-to-speech API"
            return result
        default:
            break
        }
        guard let apiBase else {
            result.skipReason = "no api_base for provider type '\(type.name)'"
            return result
        }
        if type.name != "elevenlabs" {
            let defaultPath = capability == .transcription ? "/audio/transcriptions" : "/audio/speech"
            var text = apiBase.absoluteString
            while text.hasSuffix("/") {
                text.removeLast()
            }
            result.endpoint = URL(string: text + (provider.audio.path ?? defaultPath))
        } else {
            result.endpoint = apiBase
        }
        if type.name == "elevenlabs" && capability == .speech && provider.audio.voice == nil {
            result.skipReason = "no ElevenLabs voice id: set 'voice' for this provider in the worker's file"
            return result
        }
        switch credential.resolve(environment: self.environment) {
        case .success(let key):
            result.apiKey = key
        case .failure(let problem):
            result.skipReason = "no API key: \(problem.reason)"
        }
        return result
    }

    private func unavailable(model: String, reason: String) -> ResolvedProvider {
        ResolvedProvider(
            model: model, name: "-", type: "-", modelName: nil, apiBase: nil, endpoint: nil, apiKey: nil,
            credential: .none, skipReason: reason, timeout: .seconds(120), settings: AudioProviderSettings(),
            definedIn: self.gatewayFile)
    }
}
