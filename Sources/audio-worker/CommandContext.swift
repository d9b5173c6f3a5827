import Foundation
import PipelineCore

/// What every command gets: the global options and the process's streams.
struct CommandContext: Sendable {
    /// Options every command accepts, after its name.
    static let globalOptions: Set<String> = ["--config", "--gateway-config", "--data-dir"]

    /// `--config`: the worker settings file, if given.
    var configPath: String?
    /// `--gateway-config`: the TensorZero-schema gateway file, if given.
    var gatewayConfigPath: String?
    /// `--data-dir`, if given; else the configuration decides (`AUDIO_WORKER_DATA`, then `[worker] data_dir`).
    var dataDirectoryOption: String?
    /// The console for output and diagnostics.
    var console: Console

    /// The process environment.
    var environment: [String: String]

    init(arguments: CommandLineArguments, environment: [String: String], console: Console) {
        self.configPath = arguments.value("--config")
        self.gatewayConfigPath = arguments.value("--gateway-config")
        self.dataDirectoryOption = arguments.value("--data-dir")
        self.console = console
        self.environment = environment
    }

    /// Loads the worker and gateway files named by the global options (or the defaults).
    func loadConfiguration() throws(ConfigError) -> Configuration {
        try Configuration.load(
            configPath: self.configPath, gatewayPath: self.gatewayConfigPath, environment: self.environment)
    }
}
