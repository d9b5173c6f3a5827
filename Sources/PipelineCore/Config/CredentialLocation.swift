import Foundation

/// Where a provider's API key comes from, in TensorZero's `api_key_location` syntax.
package indirect enum CredentialLocation: Sendable, Equatable, CustomStringConvertible {
    /// `env::VAR`: an environment variable.
    case environment(String)
    /// `path::FILE`: the contents of a file, trimmed.
    case file(String)
    /// `path_from_env::VAR`: the file named by an environment variable.
    case fileFromEnvironment(String)
    /// `dynamic::NAME`: supplied per request by the caller; the worker has none.
    case dynamic(String)
    /// `sdk`: the provider SDK's own lookup; the worker does not use SDKs.
    case sdk
    /// `none`: no key is sent.
    case none
    /// `{ default = ..., fallback = ... }`: the first that yields a key.
    case withFallback(CredentialLocation, CredentialLocation)

    /// Parses TensorZero's syntax (`env::VAR`, `path::FILE`, `path_from_env::VAR`, `dynamic::NAME`, `sdk`, `none`).
    package init?(parsing text: String) {
        let parts = text.split(separator: "::", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        switch (parts.first, parts.count) {
        case ("none", 1): self = .none
        case ("sdk", 1): self = .sdk
        case ("env", 2) where !parts[1].isEmpty: self = .environment(parts[1])
        case ("path", 2) where !parts[1].isEmpty: self = .file(parts[1])
        case ("path_from_env", 2) where !parts[1].isEmpty: self = .fileFromEnvironment(parts[1])
        case ("dynamic", 2) where !parts[1].isEmpty: self = .dynamic(parts[1])
        default: return nil
        }
    }

    /// The key, or why there is none. `.none` resolves to a nil key (nothing to send), not a failure.
    package func resolve(environment: [String: String]) -> Result<Secret?, CredentialProblem> {
        switch self {
        case .none:
            return .success(nil)
        case .environment(let name):
            guard let value = environment[name], !value.isEmpty else {
                return .failure(CredentialProblem("environment variable \(name) is not set"))
            }
            return .success(Secret(value))
        case .file(let path):
            return Self.read(path, via: nil)
        case .fileFromEnvironment(let name):
            guard let path = environment[name], !path.isEmpty else {
                return .failure(CredentialProblem("environment variable \(name) (a key file path) is not set"))
            }
            return Self.read(path, via: name)
        case .dynamic(let name):
            return .failure(
                CredentialProblem("dynamic credential '\(name)' is supplied per request; the worker has none"))
        case .sdk:
            return .failure(CredentialProblem("'sdk' credentials need a provider SDK, which the worker does not use"))
        case .withFallback(let primary, let fallback):
            switch primary.resolve(environment: environment) {
            case .success(let key): return .success(key)
            case .failure(let first):
                switch fallback.resolve(environment: environment) {
                case .success(let key): return .success(key)
                case .failure(let second): return .failure(CredentialProblem("\(first.reason); \(second.reason)"))
                }
            }
        }
    }

    private static func read(_ path: String, via variable: String?) -> Result<Secret?, CredentialProblem> {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            let origin = variable.map { " (from \($0))" } ?? ""
            return .failure(CredentialProblem("key file \(path)\(origin) cannot be read"))
        }
        let key = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !key.isEmpty else { return .failure(CredentialProblem("key file \(path) is empty")) }
        return .success(Secret(key))
    }

    package var description: String {
        switch self {
        case .environment(let name): "env::\(name)"
        case .file(let path): "path::\(path)"
        case .fileFromEnvironment(let name): "path_from_env::\(name)"
        case .dynamic(let name): "dynamic::\(name)"
        case .sdk: "sdk"
        case .none: "none"
        case .withFallback(let primary, let fallback): "{ default = \(primary), fallback = \(fallback) }"
        }
    }
}

/// Why a provider has no usable key; the provider is skipped with this reason.
package struct CredentialProblem: Error, Sendable, Equatable {
    /// The reason, in words (never the key itself).
    package var reason: String

    /// Creates a problem.
    package init(_ reason: String) { self.reason = reason }
}
