import Foundation
import PipelineCore

/// The `audio-worker` program: parses the subcommand and maps errors to exit statuses (1 failure, 2 usage).
@main
enum AudioWorker {
    static let commands: [any Command.Type] = [
        DecodeCommand.self,
        ProbeCommand.self,
        ConfigCommand.self,
        TranscribeCommand.self,
        SynthesizeCommand.self,
        EnqueueCommand.self,
        ServeCommand.self,
        JobsCommand.self,
        BatchCommand.self,
    ]

    static func main() async {
        let status = await self.run(Array(CommandLine.arguments.dropFirst()))
        exit(status)
    }

    /// The program's version, printed by `--version` and announced by `serve`.
    static let version = "0.3.0"

    static func run(_ arguments: [String]) async -> Int32 {
        let console = Console()
        if arguments.first == "--version" || arguments.first == "version" {
            console.output("audio-worker \(self.version)")
            return 0
        }
        guard let name = arguments.first, !["help", "--help", "-h"].contains(name) else {
            console.diagnostic(self.overview)
            return arguments.isEmpty ? 2 : 0
        }
        guard let command = self.commands.first(where: { $0.name == name }) else {
            console.diagnostic("audio-worker: unknown command '\(name)'\n\n\(self.overview)")
            return 2
        }
        let rest = Array(arguments.dropFirst())
        if rest.contains("--help") || rest.contains("-h") {
            console.output("usage: \(command.usage)\n\n\(command.summary)")
            return 0
        }
        do {
            var specification = command.specification
            specification.valueOptions.formUnion(CommandContext.globalOptions)
            let parsed = try CommandLineArguments(rest, accepting: specification)
            let context = CommandContext(
                arguments: parsed, environment: ProcessInfo.processInfo.environment, console: console)
            return try await command.run(parsed, context: context)
        } catch let error as UsageError {
            console.diagnostic("audio-worker \(name): \(error.message)\nusage: \(command.usage)")
            return 2
        } catch {
            console.diagnostic("audio-worker \(name): \(error)")
            return 1
        }
    }

    static var overview: String {
        let lines = self.commands.map {
            "  \($0.name.padding(toLength: 12, withPad: " ", startingAt: 0)) \($0.summary)"
        }
        return """
            usage: audio-worker COMMAND [options]
                   audio-worker --version

            commands:
            \(lines.joined(separator: "\n"))

            Every command accepts --config FILE, --gateway-config FILE and --data-dir DIR.
            Run 'audio-worker COMMAND --help' for a command's options.
            """
    }
}
