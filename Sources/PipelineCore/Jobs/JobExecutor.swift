import Foundation
import Synchronization

/// Does one job's work: checks it, fetches the input, runs the pipeline, stores the outputs at deterministic keys,
/// and returns the output keys and the result summary. Knows nothing of leases; ``QueueWorker`` settles the job.
package struct JobExecutor: Sendable {
    /// Builds pipelines for a job's options; the composition root supplies the concrete ones.
    package struct Pipelines: Sendable {
        /// A transcription pipeline for a function, language and prompt (nil: the configured defaults).
        package var transcription:
            @Sendable (_ function: String?, _ language: String?, _ prompt: String?) throws -> TranscriptionPipeline
        /// A speech pipeline for a function, voice, rate and speed (nil: the configured defaults).
        package var speech:
            @Sendable (_ function: String?, _ voice: String?, _ sampleRate: Int?, _ speed: Double?) throws
                -> SpeechPipeline

        /// Creates the factories.
        package init(
            transcription: @escaping @Sendable (String?, String?, String?) throws -> TranscriptionPipeline,
            speech: @escaping @Sendable (String?, String?, Int?, Double?) throws -> SpeechPipeline
        ) {
            self.transcription = transcription
            self.speech = speech
        }
    }

    /// What the running job reports back while it works.
    package struct Reporter: Sendable {
        /// Stores a finished unit (a chunk) so a retry does not redo it.
        package var checkpoint: @Sendable (_ key: String, _ value: Data) async throws -> Void
        /// Records progress (units done, total when known) and, for a transcription, the chunk just finished.
        package var progress: @Sendable (JobProgress, ChunkUpdate?) -> Void

        /// Creates a reporter.
        package init(
            checkpoint: @escaping @Sendable (String, Data) async throws -> Void,
            progress: @escaping @Sendable (JobProgress, ChunkUpdate?) -> Void
        ) {
            self.checkpoint = checkpoint
            self.progress = progress
        }
    }

    /// What jobs may send to providers (``ProviderBudget``), from `[budget]`.
    package struct Budgets: Sendable {
        /// A job may send its audio (or text) this many times over, retries and fallbacks included.
        package var multiple: Double
        /// Seconds of audio one job may send to billing providers; nil for no cap.
        package var cloudAudioSecondsPerJob: Double?
        /// Characters of text one job may send to billing providers; nil for no cap.
        package var cloudCharactersPerJob: Double?
        /// The worker's hourly cap on audio seconds sent to billing providers.
        package var cloudAudioPerHour: CloudAllowance?
        /// The worker's hourly cap on characters sent to billing providers.
        package var cloudCharactersPerHour: CloudAllowance?

        /// Creates budgets; the default lets a job send its work eight times over (the shipped route tries a chunk up
        /// to six times: three local, three cloud), with no cloud caps.
        package init(
            multiple: Double = 8, cloudAudioSecondsPerJob: Double? = nil, cloudCharactersPerJob: Double? = nil,
            cloudAudioPerHour: CloudAllowance? = nil, cloudCharactersPerHour: CloudAllowance? = nil
        ) {
            self.multiple = multiple
            self.cloudAudioSecondsPerJob = cloudAudioSecondsPerJob
            self.cloudCharactersPerJob = cloudCharactersPerJob
            self.cloudAudioPerHour = cloudAudioPerHour
            self.cloudCharactersPerHour = cloudCharactersPerHour
        }

        /// A budget in `unit` for the job's `attempt`, continuing from what its earlier attempts sent (in
        /// `checkpoints`); a hand retry, which resets the attempts, starts afresh.
        func budget(_ unit: ProviderBudget.Unit, checkpoints: [String: Data], attempt: Int) -> ProviderBudget {
            let previous = checkpoints[JobExecutor.spendKey].flatMap {
                try? JSONDecoder().decode(ProviderBudget.Spend.self, from: $0)
            }
            return ProviderBudget(
                unit: unit, multiple: self.multiple,
                cloudPerJob: unit == .audioSeconds ? self.cloudAudioSecondsPerJob : self.cloudCharactersPerJob,
                hourly: unit == .audioSeconds ? self.cloudAudioPerHour : self.cloudCharactersPerHour,
                previous: previous, attempt: attempt)
        }
    }

    /// The checkpoint key of what a job has sent to providers, kept across its attempts.
    package static let spendKey = "provider-spend"

    private let storage: any ObjectStorage
    private let defaultBucket: String
    private let budgets: Budgets
    private let onTranscript: (@Sendable (_ jobID: String, _ document: TranscriptDocument) -> Void)?
    private let persistence: TranscriptPersistence?
    private let requests: JobRequests
    private let encoder: any AudioEncoding
    private let pipelines: Pipelines
    private let scratch: URL
    private let liveAudio: LiveAudio?

    /// Creates an executor; jobs that name no bucket use `defaultBucket`; temporary files go under `scratch`;
    /// speech is also handed to `liveAudio`'s listeners as it is written; each finished transcript, whole, to
    /// `onTranscript` (the job record keeps only a summary), before the job is settled; and, with `persistence`,
    /// forwarded to media-audio or written to Supabase once its files are stored (uploads excepted).
    package init(
        storage: any ObjectStorage, defaultBucket: String, requests: JobRequests, encoder: any AudioEncoding,
        pipelines: Pipelines, scratch: URL = FileManager.default.temporaryDirectory, liveAudio: LiveAudio? = nil,
        budgets: Budgets = Budgets(), persistence: TranscriptPersistence? = nil,
        onTranscript: (@Sendable (_ jobID: String, _ document: TranscriptDocument) -> Void)? = nil
    ) {
        self.budgets = budgets
        self.persistence = persistence
        self.onTranscript = onTranscript
        self.liveAudio = liveAudio
        self.storage = storage
        self.defaultBucket = defaultBucket
        self.requests = requests
        self.encoder = encoder
        self.pipelines = pipelines
        self.scratch = scratch
    }

    /// Runs `job`, resuming from `checkpoints`.
    ///
    /// - Throws: ``RequestError`` (permanent) for a job that breaks the rules for its origin, before any work.
    package func execute(_ job: Job, checkpoints: [String: Data], reporter: Reporter) async throws -> (
        outputs: [String], result: JSONValue
    ) {
        let payload = try self.requests.validate(job.payload, origin: job.origin)
        let budget = self.budgets.budget(
            payload.kind == .transcribe ? .audioSeconds : .characters, checkpoints: checkpoints,
            attempt: job.attempts)
        // What was sent is kept when the attempt ends, however it ends, so the next attempt continues the count.
        func keepSpend() async {
            if let data = try? JSONEncoder().encode(budget.spend) {
                try? await reporter.checkpoint(Self.spendKey, data)
            }
        }
        do {
            var (outputs, result) = try await ProviderBudget.$current.withValue(budget) {
                switch payload {
                case .transcription(let spec):
                    let (outputs, result, document) = try await self.transcribe(
                        spec, job: job.id, attempt: job.attempts, checkpoints: checkpoints, reporter: reporter)
                    self.onTranscript?(job.id, document)
                    return (outputs, result)
                case .synthesis(let spec):
                    budget.hold(Double(spec.text.count), part: 0)
                    return try await self.synthesize(spec, reporter: reporter)
                }
            }
            if case .object(var members) = result {
                members["budget"] = try JSONValue(encoding: budget.spend)
                result = .object(members)
            }
            return (outputs, result)
        } catch {
            await keepSpend()
            throw error
        }
    }

    /// The checkpoint key of a transcription chunk.
    package static func checkpointKey(chunk index: Int) -> String { "chunk-\(index)" }

    private func transcribe(
        _ spec: TranscriptionJobSpec, job id: String, attempt: Int, checkpoints: [String: Data], reporter: Reporter
    ) async throws -> (outputs: [String], result: JSONValue, document: TranscriptDocument) {
        let formats = spec.formats.compactMap(TranscriptFormat.init(rawValue:))
        let store = try self.storage.bucket(spec.bucket ?? self.defaultBucket)
        let pipeline = try self.pipelines.transcription(spec.function, spec.language, spec.prompt)
            .limited(toSeconds: spec.maxDurationSeconds)
        let (input, isTemporary) = try await self.fetch(spec.input, from: store)
        defer {
            if isTemporary {
                try? FileManager.default.removeItem(at: input)
            }
        }
        var resume: [Int: ChunkResult] = [:]
        let decoder = JSONDecoder()
        for (key, value) in checkpoints where key.hasPrefix("chunk-") {
            if let result = try? decoder.decode(ChunkResult.self, from: value) {
                resume[result.index] = result
            }
        }
        let audioFile = self.scratch.appendingPathComponent("audio-worker-\(UUID().uuidString).wav")
        let audioWriter: AudioWriter? =
            spec.outAudioKey == nil
            ? nil
            : try await self.encoder.openWriter(
                to: audioFile, sampleRate: pipeline.sampleRate, as: .wav, outputRate: pipeline.sampleRate)
        defer {
            audioWriter?.abandon()
            try? FileManager.default.removeItem(at: audioFile)
        }
        var audioSink: (@Sendable (AudioBlock) async throws -> Void)? = nil
        if let audioWriter {
            audioSink = { block in try await audioWriter.write(block.samples) }
        }
        let outcome: TranscriptionPipeline.Outcome
        do {
            outcome = try await pipeline.run(
                input, resume: resume,
                onChunk: { result, progress in
                    try await reporter.checkpoint(
                        Self.checkpointKey(chunk: result.index), try JSONEncoder().encode(result))
                    if let spend = ProviderBudget.current?.spend {
                        try await reporter.checkpoint(Self.spendKey, try JSONEncoder().encode(spend))
                    }
                    let update = ChunkUpdate(
                        index: result.index, start: result.startSeconds, end: result.endSeconds,
                        text: result.transcript.text, provider: result.servedBy?.label)
                    reporter.progress(JobProgress(done: progress.chunksDone, total: progress.chunksTotal), update)
                },
                audioSink: audioSink)
        } catch var error as MediaError where error.input == input.path || error.input == input.relativePath {
            // The decoder read a temporary copy; whoever reads the job wants the input it named.
            error.input = spec.input
            throw error
        }
        var outputs: [String] = []
        if let writer = audioWriter, let key = spec.outAudioKey {
            _ = try await writer.finish()
            try await store.put(key, from: audioFile, contentType: AudioFileFormat.wav.mimeType)
            outputs.append(key)
        }
        let audioURI = spec.outAudioKey.map(store.uri(for:)) ?? (isTemporary ? store.uri(for: spec.input) : spec.input)
        let document = TranscriptDocument.assemble(outcome, audioURI: audioURI, passThrough: spec)
        for (format, data) in try document.files(transcript: outcome.transcript, formats: formats) {
            let key = "\(spec.outputPrefix).\(format.rawValue)"
            try await store.put(key, data: data, contentType: format.mimeType)
            outputs.append(key)
        }
        // After the files, as ffmpeg-whisper writes segments after transcribing: a crash in between runs the job
        // again, and its rows replace these.
        var persisted: TranscriptPersistence.Outcome? = nil
        if let persistence = self.persistence, spec.ephemeral != true {
            persisted = try await persistence.record(
                TranscriptPersistence.Finished(
                    jobID: id, resumed: attempt > 1 || !checkpoints.isEmpty, bucket: spec.bucket ?? self.defaultBucket,
                    key: spec.input,
                    document: document))
        }
        reporter.progress(JobProgress(done: outcome.chunks.count, total: outcome.chunks.count), nil)
        var summary = try JSONValue(encoding: document)
        if case .object(var members) = summary {
            // The job record keeps the summary and chunk list; the full segments are in the stored JSON.
            members["segments"] = JSONValue.number(Double(document.segments.count))
            members["word_segments"] = nil
            members["outputs"] = JSONValue.array(outputs.map { JSONValue.string($0) })
            if let forwarded = persisted?.forwarded { members["forwarded"] = .bool(forwarded) }
            if let rows = persisted?.rows { members["segment_rows"] = .number(Double(rows)) }
            summary = JSONValue.object(members)
        }
        return (outputs, summary, document)
    }

    private func synthesize(_ spec: SynthesisJobSpec, reporter: Reporter) async throws -> (
        outputs: [String], result: JSONValue
    ) {
        guard let format = AudioFileFormat(fileExtension: spec.format) else {
            throw RequestError(field: "format", "unknown audio format '\(spec.format)'")
        }
        let store = try self.storage.bucket(spec.bucket ?? self.defaultBucket)
        let pipeline = try self.pipelines.speech(spec.function, spec.voice, spec.sampleRate, spec.speed)
        let file = self.scratch.appendingPathComponent("audio-worker-\(UUID().uuidString).\(format.fileExtension)")
        defer { try? FileManager.default.removeItem(at: file) }
        let bucket = spec.bucket ?? self.defaultBucket
        var onAudio: (@Sendable ([Float]) -> Void)? = nil
        if let live = self.liveAudio, live.isListened(bucket: bucket, outputKey: spec.outputKey) {
            onAudio = { samples in live.feed(bucket: bucket, outputKey: spec.outputKey, samples) }
        }
        let outcome: SpeechPipeline.Outcome
        do {
            outcome = try await pipeline.run(
                spec.text, to: file, format: format, minimumSeconds: spec.minimumSeconds ?? 0, onAudio: onAudio
            ) { _, done, total in
                reporter.progress(JobProgress(done: done, total: total), nil)
            }
        } catch {
            self.liveAudio?.end(bucket: bucket, outputKey: spec.outputKey, complete: false)
            throw error
        }
        self.liveAudio?.end(bucket: bucket, outputKey: spec.outputKey, complete: true)
        try await store.put(spec.outputKey, from: file, contentType: format.mimeType)
        let result: JSONValue = .object([
            "output": .string(spec.outputKey), "format": .string(format.rawValue),
            "sample_rate": .number(Double(outcome.file.sampleRate)),
            "duration": .number((outcome.duration * 1000).rounded() / 1000),
            "bytes": .number(Double(outcome.file.bytes)), "pieces": try JSONValue(encoding: outcome.pieces),
        ])
        return ([spec.outputKey], result)
    }

    /// The input as a local file: a `file://` URL or absolute path (command-line jobs only, checked before) as it
    /// is, a storage key copied out of the store.
    private func fetch(_ input: String, from store: any ObjectStore) async throws -> (URL, temporary: Bool) {
        let local: URL? =
            input.hasPrefix("file:") ? URL(string: input) : input.hasPrefix("/") ? URL(fileURLWithPath: input) : nil
        if let local {
            guard FileManager.default.fileExists(atPath: local.path) else { throw StorageError.notFound(input) }
            return (local, false)
        }
        return (try await store.get(input), true)
    }
}
