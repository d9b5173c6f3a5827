import Foundation
import PipelineCore
import SQLiteQueue

/// `audio-worker enqueue (transcribe INPUT | synthesize TEXT)`: adds a job and prints it as JSON.
enum EnqueueCommand: Command {
    static let name = "enqueue"
    static let summary = "add a transcription or synthesis job to the queue; prints the job as JSON"
    static let usage = """
        audio-worker enqueue transcribe INPUT [--idempotency-key K] [--language CODE] [--formats json,srt,vtt,txt]
               [--function NAME] [--out-audio-key KEY] [--output-prefix KEY] [--video-id ID] [--namespace NS]
               [--context-id ID] [--priority N] [--max-attempts N]
        audio-worker enqueue synthesize (TEXT | --text-file FILE) [--idempotency-key K] [--voice V]
               [--format wav|mp3|opus|flac|pcm] [--rate HZ] [--output-key KEY] [--function NAME] [--priority N]
        (INPUT is a local file, copied into the store under inputs/, or a storage key already in the store)
        """
    static let specification = CommandLineArguments.Specification(valueOptions: [
        "--idempotency-key", "--language", "--formats", "--function", "--out-audio-key", "--output-prefix",
        "--video-id",
        "--namespace", "--context-id", "--priority", "--max-attempts", "--text-file", "--voice", "--format", "--rate",
        "--output-key",
    ])

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        guard let kind = arguments.operands.first else { throw UsageError("missing 'transcribe' or 'synthesize'") }
        let environment = try await WorkerEnvironment.open(context)
        let payload: JobPayload
        switch kind {
        case "transcribe": payload = try await self.transcription(arguments, environment: environment)
        case "synthesize": payload = try self.synthesis(arguments, environment: environment)
        default: throw UsageError("unknown job kind '\(kind)'; use transcribe or synthesize")
        }
        let (job, created) = try await environment.control.submit(
            EnqueueRequest(
                payload: payload, idempotencyKey: arguments.value("--idempotency-key"),
                priority: try arguments.integer("--priority", in: -1000...1000) ?? 0,
                maxAttempts: try arguments.integer("--max-attempts", in: 1...1000), origin: .commandLine))
        if !created {
            context.console.diagnostic("audio-worker enqueue: job \(job.id) already exists for this idempotency key")
        }
        try context.console.outputJSON(job, pretty: true)
        return 0
    }

    private static func transcription(_ arguments: CommandLineArguments, environment: WorkerEnvironment) async throws
        -> JobPayload
    {
        let input = try arguments.operands(named: "INPUT", minimum: 2, maximum: 2)[1]
        let options = try TranscriptionOptions(arguments, defaults: environment.configuration.worker.transcription)
        let key = try await self.storageKey(for: input, store: try environment.defaultStore())
        for option in ["--out-audio-key", "--output-prefix"] {
            if let value = arguments.value(option) {
                do {
                    try StorageKey.validate(value)
                } catch {
                    throw UsageError("\(option): \(error)")
                }
            }
        }
        return .transcription(
            TranscriptionJobSpec(
                input: key, language: options.language, function: arguments.value("--function"),
                formats: options.formats.map(\.rawValue), outAudioKey: arguments.value("--out-audio-key"),
                outputPrefix: arguments.value("--output-prefix")
                    ?? JobInputs.outputPrefix(
                        forKey: key, under: environment.configuration.worker.storage.transcriptPrefix),
                videoID: arguments.value("--video-id"), namespace: arguments.value("--namespace"),
                contextID: arguments.value("--context-id")))
    }

    /// A local file is copied into the store; anything else must be a key already there.
    private static func storageKey(for input: String, store: any ObjectStore) async throws -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory), !isDirectory.boolValue {
            let file = URL(fileURLWithPath: input)
            let key = JobInputs.storageKey(forLocalFile: file)
            try await store.put(key, from: file, contentType: nil)
            return key
        }
        do {
            try StorageKey.validate(input)
        } catch {
            throw UsageError("'\(input)' is neither a file nor a valid storage key (\(error))")
        }
        guard try await store.exists(input) else {
            throw UsageError("'\(input)' is neither a file nor a key in the store")
        }
        return input
    }

    private static func synthesis(_ arguments: CommandLineArguments, environment: WorkerEnvironment) throws
        -> JobPayload
    {
        let operands = try arguments.operands(named: "TEXT", minimum: 1, maximum: 2)
        let text: String
        switch (operands.count > 1 ? operands[1] : nil, arguments.value("--text-file")) {
        case (let inline?, nil): text = inline
        case (nil, let path?):
            guard let contents = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw UsageError("cannot read the text file '\(path)' as UTF-8")
            }
            text = contents
        case (nil, nil): throw UsageError("give the text, or --text-file FILE")
        case (.some, .some): throw UsageError("give the text or --text-file, not both")
        }
        let settings = environment.configuration.worker.speech
        let format = arguments.value("--format") ?? settings.format
        guard AudioFileFormat(fileExtension: format) != nil else {
            throw UsageError("unknown audio format '\(format)'; use wav, mp3, opus, flac or pcm")
        }
        let rate = try arguments.integer("--rate", in: 8000...48_000)
        let voice = arguments.value("--voice")
        let function = arguments.value("--function")
        let outputKey =
            arguments.value("--output-key")
            ?? JobInputs.speechKey(
                text: text, voice: voice, format: format, sampleRate: rate, function: function,
                under: environment.configuration.worker.storage.speechPrefix)
        do {
            try StorageKey.validate(outputKey)
        } catch {
            throw UsageError("--output-key: \(error)")
        }
        return .synthesis(
            SynthesisJobSpec(
                text: text, voice: voice, format: format, sampleRate: rate, function: function, outputKey: outputKey))
    }
}
