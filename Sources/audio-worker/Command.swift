import PipelineCore

/// One `audio-worker` subcommand.
protocol Command: Sendable {
    /// The word that selects the command.
    static var name: String { get }
    /// One line for the overview.
    static var summary: String { get }
    /// The synopsis lines shown by `--help` and after a usage error.
    static var usage: String { get }
    /// The options the command takes, besides the global ones.
    static var specification: CommandLineArguments.Specification { get }

    /// Runs the command and returns the exit status.
    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32
}
