import Foundation

/// Media in, stitched transcript out: decode (streaming) → chunk at silences → transcribe chunks through the
/// gateway with bounded concurrency → stitch in order.
///
/// Memory stays at the chunks in flight plus one window, however long the input. Chunks already finished (from
/// a checkpoint) are not sent again. The first chunk that fails everywhere cancels the rest and fails the run.
package struct TranscriptionPipeline: Sendable {
    /// How to transcribe.
    package struct Settings: Sendable, Equatable {
        /// Chunking (rate, window, overlap).
        package var chunking: Chunker.Settings
        /// Chunks in flight at once.
        package var concurrency: Int
        /// The language to ask for, or nil to detect.
        package var language: String?
        /// Whether each chunk's prompt is the previous chunk's text (forces one chunk at a time).
        package var carryPrompt: Bool
        /// The longest carried prompt, in characters.
        package var promptMaxCharacters: Int
        /// A prompt sent with every chunk that has no carried one (OpenAI's `prompt`: spelling, names, style).
        package var initialPrompt: String?
        /// Bounds on the input.
        package var limits: MediaLimits

        /// Creates settings.
        package init(
            chunking: Chunker.Settings = Chunker.Settings(), concurrency: Int = 4, language: String? = nil,
            carryPrompt: Bool = false, promptMaxCharacters: Int = 800, limits: MediaLimits = MediaLimits(),
            initialPrompt: String? = nil
        ) {
            self.initialPrompt = initialPrompt
            self.chunking = chunking
            self.concurrency = max(concurrency, 1)
            self.language = language
            self.carryPrompt = carryPrompt
            self.promptMaxCharacters = promptMaxCharacters
            self.limits = limits
        }
    }

    /// How far a run has got.
    package struct Progress: Sendable, Equatable {
        /// Chunks finished (sent, skipped as silent, or taken from a checkpoint).
        package var chunksDone: Int
        /// Chunks in all: exact once decoding has finished, an estimate from the container's duration before.
        package var chunksTotal: Int?
        /// Seconds of audio decoded so far.
        package var secondsDecoded: Double
        /// The input's duration as the container states it, when known.
        package var estimatedSeconds: Double?
    }

    /// The language a run detected on its first chunk with speech and pinned for the rest.
    package struct LanguageDetection: Sendable, Codable, Equatable {
        /// The language, as the provider reported it (an ISO 639-1 code after the reply parser).
        package var language: String
        /// The chunk it was detected on.
        package var chunk: Int
        /// Where that chunk starts, in seconds.
        package var start: Double

        /// Creates a record.
        package init(language: String, chunk: Int, start: Double) {
            self.language = language
            self.chunk = chunk
            self.start = start
        }
    }

    /// What a run produced.
    package struct Outcome: Sendable {
        /// The stitched transcript.
        package var transcript: Transcript
        /// Every chunk's result, in order.
        package var chunks: [ChunkResult]
        /// Decoder warnings and what the stitcher removed.
        package var warnings: [String]
        /// The stream that was transcribed.
        package var source: SourceInfo
        /// Where the language came from when the request named none (nil when it named one, or no chunk with
        /// speech reported a language).
        package var languageDetection: LanguageDetection?
    }

    private let decoder: any AudioDecoding
    private let transcriber: any SpeechToText
    private let settings: Settings
    private let stitcher: TranscriptStitcher
    private let clock: any MonotonicClock

    /// Creates a pipeline.
    package init(
        decoder: any AudioDecoding, transcriber: any SpeechToText, settings: Settings,
        stitcher: TranscriptStitcher = TranscriptStitcher(), clock: any MonotonicClock = SystemClock()
    ) {
        self.decoder = decoder
        self.transcriber = transcriber
        self.settings = settings
        self.stitcher = stitcher
        self.clock = clock
    }

    /// This pipeline with the decoded-audio limit lowered to `seconds` (a request's own limit); itself for nil.
    package func limited(toSeconds seconds: Double?) -> TranscriptionPipeline {
        var settings = self.settings
        settings.limits = settings.limits.lowered(toSeconds: seconds)
        return TranscriptionPipeline(
            decoder: self.decoder, transcriber: self.transcriber, settings: settings, stitcher: self.stitcher,
            clock: self.clock)
    }

    /// The rate audio is decoded at (and blocks given to an audio sink have), in Hz.
    package var sampleRate: Int { self.settings.chunking.sampleRate }

    /// Transcribes `file`.
    ///
    /// - Parameters:
    ///   - resume: chunk results from an earlier, interrupted run, by index; one that matches a chunk exactly
    ///     is used instead of sending it.
    ///   - audioSink: receives every decoded block, in order (to store the decoded audio alongside).
    ///   - onChunk: called once per finished chunk, in completion order, with the progress so far; a
    ///     checkpoint store. Throwing from it stops the run.
    package func run(
        _ file: URL, resume: [Int: ChunkResult] = [:],
        onChunk: @escaping @Sendable (ChunkResult, Progress) async throws -> Void = { _, _ in },
        audioSink: (@Sendable (AudioBlock) async throws -> Void)? = nil
    ) async throws -> Outcome {
        let audio = try await self.decoder.open(
            file, options: DecodeOptions(sampleRate: self.settings.chunking.sampleRate, limits: self.settings.limits))
        var chunker = Chunker(self.settings.chunking)
        let concurrency = self.settings.carryPrompt ? 1 : self.settings.concurrency
        var results: [Int: ChunkResult] = [:]
        var progress = Progress(
            chunksDone: 0, chunksTotal: nil, secondsDecoded: 0, estimatedSeconds: audio.source.estimatedDuration)
        var chunksSeen = 0
        var decodingFinished = false
        var previousText: String? = nil
        // With no language asked for, chunks go one at a time until one with speech reports its language; it is
        // then asked for on every later chunk, so a file does not switch language between chunks. A provider that
        // reports no language ends the wait (the chunks then detect their own).
        var language = self.settings.language
        var detecting = language == nil
        var detection: LanguageDetection?

        try await withThrowingTaskGroup(of: ChunkResult.self) { group in
            var inFlight = 0
            func finished(_ result: ChunkResult) async throws {
                results[result.index] = result
                progress.chunksDone += 1
                progress.chunksTotal =
                    decodingFinished ? chunksSeen : self.estimatedTotal(seen: chunksSeen, progress: progress)
                previousText = result.transcript.text
                if detecting, !result.skipped, Self.decidesLanguage(result.transcript.text) {
                    detecting = false
                    if let detected = result.transcript.language {
                        language = detected
                        detection = LanguageDetection(
                            language: detected, chunk: result.index,
                            start: (result.startSeconds * 1000).rounded() / 1000)
                    }
                }
                try await onChunk(result, progress)
            }
            func dispatch(_ chunk: AudioChunk) async throws {
                chunksSeen += 1
                // The job's audio so far, sent or not, is what its provider budget is a multiple of.
                ProviderBudget.current?.hold(
                    Double(chunk.samples.count) / Double(chunk.sampleRate), part: chunk.index)
                if let done = resume[chunk.index], done.matches(chunk) {
                    try await finished(done)
                    return
                }
                if chunk.isSilent {
                    try await finished(
                        ChunkResult(
                            chunk: chunk, transcript: Transcript(text: "", segments: []), servedBy: nil, attempts: [],
                            latencyMilliseconds: 0))
                    return
                }
                while inFlight >= (detecting ? 1 : concurrency), let result = try await group.next() {
                    inFlight -= 1
                    try await finished(result)
                }
                let prompt =
                    self.settings.carryPrompt
                    ? previousText.map { String($0.suffix(self.settings.promptMaxCharacters)) }
                        ?? self.settings.initialPrompt
                    : self.settings.initialPrompt
                group.addTask { [language] in try await self.transcribe(chunk, language: language, prompt: prompt) }
                inFlight += 1
            }

            for try await block in audio.blocks {
                try await audioSink?(block)
                progress.secondsDecoded = Double(block.endSample) / Double(block.sampleRate)
                for chunk in chunker.append(block.samples) {
                    try await dispatch(chunk)
                }
            }
            let lastChunks = chunker.finish()
            decodingFinished = true
            for chunk in lastChunks {
                try await dispatch(chunk)
            }
            while let result = try await group.next() {
                try await finished(result)
            }
        }

        let ordered = results.values.sorted { $0.index < $1.index }
        let stitched = self.stitcher.stitch(ordered)
        var warnings = audio.summary.warnings
        if stitched.droppedRepetitions > 0 {
            warnings.append("dropped \(stitched.droppedRepetitions) segment(s) that repeated in a loop")
        }
        if stitched.droppedHallucinations > 0 {
            warnings.append(
                "dropped \(stitched.droppedHallucinations) segment(s) heard in silence or non-speech "
                    + "(hallucinations: known phrases, failed decodes, echoes)")
        }
        if stitched.collapsedRepeatWords > 0 {
            warnings.append("removed \(stitched.collapsedRepeatWords) word(s) of repeats collapsed to one copy")
        }
        var transcript = stitched.transcript
        transcript.duration = Double(audio.summary.samples) / Double(self.settings.chunking.sampleRate)
        if let language = self.settings.language ?? detection?.language {
            transcript.language = language
        }
        return Outcome(
            transcript: transcript, chunks: ordered, warnings: warnings, source: audio.source,
            languageDetection: detection)
    }

    /// Whether a chunk's text can decide the file's language: words, and not a phrase Whisper hallucinates in
    /// music or silence ("Thank you.", "[Music]"), which would pin the wrong language for the whole file.
    private static func decidesLanguage(_ text: String) -> Bool {
        SilenceHallucinations.hasWords(text) && !SilenceHallucinations.isKnown(text)
    }

    private func transcribe(_ chunk: AudioChunk, language: String?, prompt: String?) async throws -> ChunkResult {
        let start = self.clock.now
        let request = TranscriptionRequest(
            samples: chunk.sentSamples, sampleRate: chunk.sampleRate, language: language, prompt: prompt)
        do {
            var result = try await self.transcriber.transcribe(request)
            result.transcript = chunk.inChunkTime(result.transcript)
            let (transcript, attempts) = try await self.recoveringTail(
                of: result, chunk: chunk, language: language, prompt: prompt)
            let latency = Int(((self.clock.now - start).seconds * 1000).rounded())
            return ChunkResult(
                chunk: chunk, transcript: transcript, servedBy: result.servedBy, attempts: attempts,
                latencyMilliseconds: latency)
        } catch let error as GatewayError {
            throw TranscriptionError.chunkFailed(
                index: chunk.index, start: chunk.startSeconds, end: chunk.endSeconds, cause: error)
        }
    }

    /// `result`, with the tail Whisper missed (``TruncatedTail``) sent once more and spliced in; as it is when none
    /// was missed, or when the second request fails. A cancellation is thrown: the chunk must not be checkpointed
    /// without its tail.
    private func recoveringTail(
        of result: TranscriptionResult, chunk: AudioChunk, language: String?, prompt: String?
    ) async throws -> (Transcript, [GatewayAttempt]) {
        let transcript = result.transcript
        guard let tail = TruncatedTail.find(in: transcript, of: chunk) else { return (transcript, result.attempts) }
        let first = max(Int(((tail.start - TruncatedTail.leadSeconds) * Double(chunk.sampleRate)).rounded(.down)), 0)
        guard first < chunk.samples.count else { return (transcript, result.attempts) }
        let rest = chunk.suffix(from: first)
        var again: TranscriptionResult
        do {
            again = try await self.transcriber.transcribe(
                TranscriptionRequest(
                    samples: rest.sentSamples, sampleRate: chunk.sampleRate, language: language ?? transcript.language,
                    prompt: prompt))
            again.transcript = rest.inChunkTime(again.transcript)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            try Task.checkCancellation()
            return (transcript, result.attempts)
        }
        try Task.checkCancellation()
        guard again.transcript.segments.contains(where: { SilenceHallucinations.hasWords($0.text) }) else {
            return (transcript, result.attempts + again.attempts)
        }
        let spliced = TruncatedTail.splice(
            transcript, tail, with: again.transcript, offset: Double(first) / Double(chunk.sampleRate))
        return (spliced, result.attempts + again.attempts)
    }

    /// Chunks so far plus the remaining duration over a typical chunk: the audio decoded per chunk so far (with
    /// pauses shortened a chunk spans more than its window), or 85 % of the window before the first.
    private func estimatedTotal(seen: Int, progress: Progress) -> Int? {
        guard let estimate = progress.estimatedSeconds, estimate > 0 else { return nil }
        let remaining = max(estimate - progress.secondsDecoded, 0)
        let typical =
            seen > 0
            ? max(progress.secondsDecoded / Double(seen), 1) : self.settings.chunking.windowSeconds * 0.85
        let more = (remaining / typical).rounded(.up)
        return more.isFinite && more < 1e9 ? seen + Int(more) : nil
    }
}
