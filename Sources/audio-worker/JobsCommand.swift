import Foundation
import PipelineCore
import SQLiteQueue

/// `audio-worker jobs (list | show ID | retry ID | cancel ID | dead-letters)`.
enum JobsCommand: Command {
    static let name = "jobs"
    static let summary = "list, show, retry or cancel jobs; list messages turned away"
    static let usage =
        "audio-worker jobs list [--status S] [--limit N] | show ID | retry ID | cancel ID | dead-letters [--limit N]"
    static let specification = CommandLineArguments.Specification(valueOptions: ["--status", "--limit"])

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        let operands = arguments.operands
        let action = operands.first ?? "list"
        let environment = try await WorkerEnvironment.open(context)
        let queue = environment.queue.base
        func id() throws(UsageError) -> String {
            guard operands.count == 2 else { throw UsageError("jobs \(action) needs one job id") }
            return operands[1]
        }
        do {
            switch action {
            case "list":
                guard operands.count <= 1 else { throw UsageError("unexpected argument '\(operands[1])'") }
                var status: JobStatus? = nil
                if let text = arguments.value("--status") {
                    guard let parsed = JobStatus(rawValue: text) else {
                        throw UsageError(
                            "unknown status '\(text)'; use \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))"
                        )
                    }
                    status = parsed
                }
                let limit = try arguments.integer("--limit", in: 1...1_000_000) ?? 100
                try context.console.outputJSON(try await queue.jobs(status: status, limit: limit), pretty: true)
            case "show":
                guard let job = try await queue.job(id: try id()) else { throw JobQueueError.notFound(try id()) }
                let record = try await queue.view(of: job)
                try context.console.outputJSON(record, pretty: true)
            case "retry":
                try context.console.outputJSON(try await environment.control.retry(id: try id()), pretty: true)
            case "cancel":
                try context.console.outputJSON(try await environment.control.cancel(id: try id()), pretty: true)
            case "dead-letters":
                guard let box = queue as? any DeadLetterBox else {
                    throw UsageError(
                        "the \(environment.configuration.worker.queue.backend.rawValue) queue takes no "
                            + "producer messages, so it has no dead letters")
                }
                let limit = try arguments.integer("--limit", in: 1...1_000_000) ?? 100
                try context.console.outputJSON(try await box.deadLetters(limit: limit), pretty: true)
            default:
                throw UsageError("unknown jobs action '\(action)'; use list, show, retry, cancel or dead-letters")
            }
        } catch let error as JobQueueError {
            context.console.diagnostic("audio-worker jobs: \(error)")
            return 1
        }
        return 0
    }
}
