import Foundation

/// The worker's configuration as loaded: its own file (or the built-in defaults), the gateway file, and the
/// environment that supplies keys and overrides.
package struct Configuration: Sendable {
    /// The worker's settings.
    package var worker: WorkerConfig
    /// The worker file's path, or `built-in defaults`.
    package var workerFile: String
    /// The gateway's functions and models.
    package var gateway: GatewayConfig
    /// The gateway file's path, or nil when there is none.
    package var gatewayFile: String?
    /// The process environment.
    package var environment: [String: String]

    /// The default worker file, relative to the working directory.
    package static let defaultWorkerFile = "config/audio-worker.toml"
    /// The default gateway file, relative to the working directory.
    package static let defaultGatewayFile = "config/tensorzero.toml"

    /// Loads the configuration.
    ///
    /// The worker file is `configPath`, else `config/audio-worker.toml` if it exists, else the built-in defaults.
    /// The gateway file is `gatewayPath`, else the worker file's `gateway_config` (relative to that file), else
    /// `config/tensorzero.toml` if it exists. Environment overrides are applied last.
    package static func load(
        configPath: String?, gatewayPath: String?, environment: [String: String]
    ) throws(ConfigError) -> Configuration {
        var worker = WorkerConfig()
        var workerFile = "built-in defaults"
        let candidate = configPath ?? Self.defaultWorkerFile
        if configPath != nil || FileManager.default.fileExists(atPath: candidate) {
            worker = try WorkerConfig(ConfigTable.load(contentsOf: candidate))
            workerFile = candidate
        }
        try worker.applyEnvironment(environment)

        var gatewayFile = gatewayPath
        if gatewayFile == nil, let named = worker.gatewayConfig {
            gatewayFile =
                named.hasPrefix("/")
                ? named
                : URL(fileURLWithPath: candidate).deletingLastPathComponent().appendingPathComponent(named).relativePath
        }
        if gatewayFile == nil, FileManager.default.fileExists(atPath: Self.defaultGatewayFile) {
            gatewayFile = Self.defaultGatewayFile
        }
        var gateway = GatewayConfig()
        if let gatewayFile {
            gateway = try GatewayConfig(ConfigTable.load(contentsOf: gatewayFile))
        }
        return Configuration(
            worker: worker, workerFile: workerFile, gateway: gateway, gatewayFile: gatewayFile,
            environment: environment)
    }

    /// The built-in defaults, with no files: a gateway without functions, so nothing resolves that names one.
    package static func builtIn(environment: [String: String] = [:]) -> Configuration {
        Configuration(
            worker: WorkerConfig(), workerFile: "built-in defaults", gateway: GatewayConfig(), gatewayFile: nil,
            environment: environment)
    }

    /// A resolver over these files.
    package var resolver: GatewayResolver {
        GatewayResolver(
            gateway: self.gateway, gatewayFile: self.gatewayFile ?? "(no gateway file)", worker: self.worker,
            workerFile: self.workerFile, environment: self.environment)
    }
}
