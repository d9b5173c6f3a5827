import AudioMedia
import CurlHTTP
import Foundation
import PipelineCore

/// `audio-worker config check`: each audio function's resolved provider chain, and whether each endpoint answers.
enum ConfigCommand: Command {
    static let name = "config"
    static let summary = "check the configuration: resolve every audio function to its provider chain"
    static let usage = "audio-worker config check [--offline] [--function NAME]... [--probe-timeout S]"
    static let specification = CommandLineArguments.Specification(
        valueOptions: ["--function", "--probe-timeout"], flags: ["--offline"])

    private struct Report: Encodable {
        var config: String
        var gatewayConfig: String?
        var functions: [FunctionReport]

        enum CodingKeys: String, CodingKey {
            case config, functions
            case gatewayConfig = "gateway_config"
        }
    }

    private struct FunctionReport: Encodable {
        var function: String
        var capability: String
        var limit: [String: Double]
        var usableProviders: Int
        var chain: [ProviderReport]

        enum CodingKeys: String, CodingKey {
            case function, capability, limit, chain
            case usableProviders = "usable_providers"
        }
    }

    private struct ProviderReport: Encodable {
        var variant: String
        var role: String
        var retries: Int
        var model: String
        var provider: String
        var type: String
        var modelName: String?
        var endpoint: String?
        var definedIn: String
        var key: String
        var skipped: String?
        var reachable: Bool?
        var probe: String?

        enum CodingKeys: String, CodingKey {
            case variant, role, retries, model, provider, type, endpoint, key, skipped, reachable, probe
            case modelName = "model_name"
            case definedIn = "defined_in"
        }
    }

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        let operands = try arguments.operands(named: "check", minimum: 1, maximum: 1)
        guard operands[0] == "check" else { throw UsageError("unknown config subcommand '\(operands[0])'") }
        let timeout = try arguments.number("--probe-timeout", in: 0.1...60) ?? 2
        let configuration = try context.loadConfiguration()
        var functions: [(String, ResolvedFunction.Capability)] = [
            (configuration.worker.transcription.function, .transcription),
            (configuration.worker.speech.function, .speech),
        ]
        for extra in arguments.values("--function") where !functions.contains(where: { $0.0 == extra }) {
            let looksLikeSpeech = extra.contains("tts") || extra.contains("speech")
            functions.append((extra, looksLikeSpeech ? .speech : .transcription))
        }
        let resolver = configuration.resolver
        var resolved: [ResolvedFunction] = []
        for (name, capability) in functions {
            resolved.append(try resolver.resolve(name, as: capability))
        }
        var reports = resolved.map { self.describe($0, worker: configuration.worker) }
        if !arguments.flag("--offline") {
            reports = await self.probe(reports, resolved: resolved, timeout: .milliseconds(Int64(timeout * 1000)))
        }
        try context.console.outputJSON(
            Report(config: configuration.workerFile, gatewayConfig: configuration.gatewayFile, functions: reports),
            pretty: true)
        return 0
    }

    private static func describe(_ function: ResolvedFunction, worker: WorkerConfig) -> FunctionReport {
        var chain: [ProviderReport] = []
        func add(_ variant: ResolvedVariant, role: String) {
            for provider in variant.providers {
                let key: String
                switch (provider.credential, provider.apiKey, provider.skipReason) {
                case (.none, _, _): key = "not needed"
                case (_, .some, _): key = "present (\(provider.credential))"
                default: key = "missing (\(provider.credential))"
                }
                chain.append(
                    ProviderReport(
                        variant: variant.name, role: role, retries: variant.retries.numRetries, model: provider.model,
                        provider: provider.name, type: provider.type, modelName: provider.modelName,
                        endpoint: provider.endpoint?.redactedForDisplay, definedIn: provider.definedIn, key: key,
                        skipped: provider.skipReason))
            }
        }
        for candidate in function.candidates {
            add(candidate.variant, role: "candidate (weight \(candidate.weight))")
        }
        for fallback in function.fallbacks {
            add(fallback, role: "fallback")
        }
        for extra in function.extras {
            add(extra.variant, role: "extra (\(extra.position))")
        }
        let limit: [String: Double] =
            function.capability == .transcription
            ? ["max_chunk_s": function.maxChunkSeconds(default: worker.transcription.windowSeconds)]
            : ["max_input_chars": Double(function.maxInputCharacters(default: 4096))]
        return FunctionReport(
            function: function.name, capability: function.capability.rawValue, limit: limit,
            usableProviders: chain.filter { $0.skipped == nil }.count, chain: chain)
    }

    /// Asks every usable provider's API base for `/models`, all at once with a short timeout: any HTTP answer
    /// means the endpoint is up.
    private static func probe(
        _ reports: [FunctionReport], resolved: [ResolvedFunction], timeout: Duration
    ) async -> [FunctionReport] {
        let http = CurlHTTPClient()
        var targets: [String: HTTPRequest] = [:]
        for function in resolved {
            for provider in function.allProviders where provider.skipReason == nil {
                guard let base = provider.apiBase else { continue }
                var text = base.absoluteString
                while text.hasSuffix("/") {
                    text.removeLast()
                }
                guard let url = URL(string: text + "/models") else { continue }
                var headers: [String: String] = [:]
                if let key = provider.apiKey {
                    headers[provider.type == "elevenlabs" ? "xi-api-key" : "Authorization"] =
                        provider.type == "elevenlabs" ? key.reveal() : "Bearer \(key.reveal())"
                }
                targets["\(function.name)/\(provider.model)/\(provider.name)"] = HTTPRequest(
                    method: .get, url: url, headers: headers, timeout: timeout)
            }
        }
        let outcomes = await withTaskGroup(of: (String, Bool, String).self) { group in
            for (key, request) in targets {
                group.addTask {
                    let clock = ContinuousClock()
                    let start = clock.now
                    do {
                        let response = try await http.send(request)
                        let elapsed = Int((clock.now - start).seconds * 1000)
                        return (
                            key, true, "HTTP \(response.status) from \(request.url.redactedForDisplay) in \(elapsed) ms"
                        )
                    } catch {
                        return (key, false, "\(error)")
                    }
                }
            }
            var collected: [String: (Bool, String)] = [:]
            for await (key, reachable, probe) in group {
                collected[key] = (reachable, probe)
            }
            return collected
        }
        return reports.map { report in
            var report = report
            report.chain = report.chain.map { entry in
                var entry = entry
                if let outcome = outcomes["\(report.function)/\(entry.model)/\(entry.provider)"] {
                    entry.reachable = outcome.0
                    entry.probe = outcome.1
                }
                return entry
            }
            return report
        }
    }
}
