import PipelineCore

/// The transcription options several commands share: `--formats` and `--language`, with the configured defaults.
struct TranscriptionOptions {
    var formats: [TranscriptFormat]
    var language: String?

    init(_ arguments: CommandLineArguments, defaults: WorkerConfig.Transcription) throws(UsageError) {
        self.formats = try TranscriptFormat.parseList(
            arguments.value("--formats") ?? defaults.formats.joined(separator: ","))
        self.language =
            try arguments.value("--language").map { given throws(UsageError) in
                guard let code = LanguageCodes.code(for: given) else {
                    throw UsageError("unknown language '\(given)'; use an ISO 639-1 code such as en")
                }
                return code
            } ?? defaults.language
    }
}
