import Foundation
import PipelineCore

/// Locates committed config files and parses inline documents for config tests.
enum ConfigFixtures {
    /// The package root, found from this file's path.
    static let root: URL = {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            directory = directory.deletingLastPathComponent()
        }
        return directory
    }()

    /// A path under the package root.
    static func path(_ relative: String) -> String { self.root.appendingPathComponent(relative).path }

    /// Parses an inline TOML document as a config table.
    static func table(_ text: String, file: String = "test.toml") throws -> ConfigTable {
        ConfigTable(try TOMLParser.parse(text, file: file), path: "", file: file)
    }

    /// A resolver over inline gateway and worker documents.
    static func resolver(gateway: String, worker: String = "", environment: [String: String] = [:]) throws
        -> GatewayResolver
    {
        GatewayResolver(
            gateway: try GatewayConfig(self.table(gateway, file: "tensorzero.toml")), gatewayFile: "tensorzero.toml",
            worker: try WorkerConfig(self.table(worker, file: "audio-worker.toml")), workerFile: "audio-worker.toml",
            environment: environment)
    }
}
