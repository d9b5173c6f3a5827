import Foundation

/// Text in, one audio file out: normalize and split within the providers' budget → synthesize pieces in parallel
/// (bounded) → decode each reply and resample → trim silence at the joins and pause by punctuation → encode once.
///
/// Pieces are written in order as soon as they and all before them are ready, so memory stays at the pieces in
/// flight, however long the text.
package struct SpeechPipeline: Sendable {
    /// How to synthesize.
    package struct Settings: Sendable, Equatable {
        /// The most characters per request.
        package var budget: Int
        /// Requests in flight at once.
        package var concurrency: Int
        /// The output rate, in Hz.
        package var sampleRate: Int
        /// The voice to ask for, or nil for each provider's default.
        package var voice: String?
        /// The speaking speed.
        package var speed: Double
        /// The longest text accepted, in characters.
        package var maxTextCharacters: Int

        /// Creates settings.
        package init(
            budget: Int = 4096, concurrency: Int = 4, sampleRate: Int = 24_000, voice: String? = nil,
            speed: Double = 1, maxTextCharacters: Int = 200_000
        ) {
            self.budget = budget
            self.concurrency = max(concurrency, 1)
            self.sampleRate = sampleRate
            self.voice = voice
            self.speed = speed
            self.maxTextCharacters = maxTextCharacters
        }
    }

    /// One synthesized piece and where it sits in the output.
    package struct Piece: Sendable, Codable, Equatable {
        /// Its position.
        package var index: Int
        /// Its characters in the normalized text.
        package var characters: Range<Int>
        /// Where it starts in the output, in seconds.
        package var start: Double
        /// Where its audio ends in the output, in seconds (the pause after it follows).
        package var end: Double
        /// `model/provider` that served it.
        package var provider: String?
        /// The variant that served it.
        package var variant: String?
        /// Requests made for it.
        package var attempts: Int
        /// The serving request's time, in milliseconds.
        package var latencyMilliseconds: Int

        private enum CodingKeys: String, CodingKey {
            case index, characters, start, end, provider, variant, attempts
            case latencyMilliseconds = "latency_ms"
        }
    }

    /// What a run produced.
    package struct Outcome: Sendable {
        /// The pieces, in order.
        package var pieces: [Piece]
        /// The output's duration, in seconds.
        package var duration: Double
        /// The written file.
        package var file: EncodedFile
    }

    private let synthesizer: any TextToSpeech
    private let encoder: any AudioEncoding
    private let settings: Settings
    private let trimmer = SilenceTrimmer()
    private let clock: any MonotonicClock

    /// Creates a pipeline; `synthesizer` must return decoded samples (see ``DecodingSpeechClient``).
    package init(
        synthesizer: any TextToSpeech, encoder: any AudioEncoding, settings: Settings,
        clock: any MonotonicClock = SystemClock()
    ) {
        self.synthesizer = synthesizer
        self.encoder = encoder
        self.settings = settings
        self.clock = clock
    }

    /// Splits `text` into the pieces it would send.
    package func pieces(of text: String) throws(SpeechError) -> [TextPiece] {
        guard text.count <= self.settings.maxTextCharacters else {
            throw .textTooLong(characters: text.count, limit: self.settings.maxTextCharacters)
        }
        let pieces = TextSplitter(budget: self.settings.budget).split(text)
        guard !pieces.isEmpty else { throw .emptyText }
        return pieces
    }

    /// Synthesizes `text` into `file` in `format`; `onPiece` is called as each piece is written, and `onAudio` with
    /// every block of samples written, in order (the pieces and the pauses between them), at the output rate. Speech
    /// shorter than `minimumSeconds` ends in silence up to it.
    package func run(
        _ text: String, to file: URL, format: AudioFileFormat, minimumSeconds: Double = 0,
        onAudio: (@Sendable ([Float]) -> Void)? = nil,
        onPiece: @escaping @Sendable (Piece, _ done: Int, _ total: Int) async throws -> Void = { _, _, _ in }
    ) async throws -> Outcome {
        let pieces = try self.pieces(of: text)
        let fileWriter = try await self.encoder.openWriter(
            to: file, sampleRate: self.settings.sampleRate, as: format, outputRate: self.settings.sampleRate)
        var writer = fileWriter
        if let onAudio {
            writer = AudioWriter(
                write: { samples in
                    try await fileWriter.write(samples)
                    onAudio(samples)
                }, finish: { try await fileWriter.finish() }, abandon: { fileWriter.abandon() })
        }
        do {
            var (written, samples) = try await self.synthesize(pieces, into: writer, onPiece: onPiece)
            let shortest = Int((minimumSeconds * Double(self.settings.sampleRate)).rounded(.up))
            if samples < shortest {
                try await writer.write([Float](repeating: 0, count: shortest - samples))
                samples = shortest
            }
            let encoded = try await writer.finish()
            return Outcome(
                pieces: written, duration: Double(samples) / Double(self.settings.sampleRate), file: encoded)
        } catch {
            writer.abandon()
            throw error
        }
    }

    private func synthesize(
        _ pieces: [TextPiece], into writer: AudioWriter,
        onPiece: @escaping @Sendable (Piece, Int, Int) async throws -> Void
    ) async throws -> (pieces: [Piece], samples: Int) {
        let rate = self.settings.sampleRate
        return try await withThrowingTaskGroup(of: (Int, SpeechResult, Int).self) { group in
            var nextToSend = 0
            var nextToWrite = 0
            var ready: [Int: (SpeechResult, Int)] = [:]
            var written: [Piece] = []
            var samplesWritten = 0
            while nextToWrite < pieces.count {
                // Never more than `concurrency` pieces ahead of the writer: bounded memory.
                while nextToSend < pieces.count && nextToSend - nextToWrite < self.settings.concurrency {
                    let index = nextToSend
                    let request = SpeechRequest(
                        text: pieces[index].text, voice: self.settings.voice, speed: self.settings.speed)
                    group.addTask {
                        let start = self.clock.now
                        do {
                            let result = try await self.synthesizer.synthesize(request)
                            return (index, result, Int(((self.clock.now - start).seconds * 1000).rounded()))
                        } catch let error as GatewayError {
                            throw SpeechError.pieceFailed(index: index, text: pieces[index].text, cause: error)
                        }
                    }
                    nextToSend += 1
                }
                guard let (index, result, latency) = try await group.next() else { break }
                ready[index] = (result, latency)
                while let (result, latency) = ready.removeValue(forKey: nextToWrite) {
                    let samples = result.samples ?? []
                    let audible = samples[self.trimmer.audibleRange(of: samples, sampleRate: rate)]
                    let start = Double(samplesWritten) / Double(rate)
                    try await writer.write(Array(audible))
                    samplesWritten += audible.count
                    let piece = Piece(
                        index: nextToWrite, characters: pieces[nextToWrite].range, start: start,
                        end: Double(samplesWritten) / Double(rate), provider: result.servedBy?.label,
                        variant: result.servedBy?.variant, attempts: result.attempts.count, latencyMilliseconds: latency
                    )
                    written.append(piece)
                    if nextToWrite + 1 < pieces.count {
                        let pause = [Float](
                            repeating: 0, count: Int(self.pause(after: pieces[nextToWrite]) * Double(rate)))
                        try await writer.write(pause)
                        samplesWritten += pause.count
                    }
                    nextToWrite += 1
                    try await onPiece(piece, nextToWrite, pieces.count)
                }
            }
            return (written, samplesWritten)
        }
    }

    /// The silence after a piece: longer after a paragraph or sentence than after a clause; faster speech, less.
    private func pause(after piece: TextPiece) -> Double {
        let seconds: Double
        switch piece.pause {
        case .paragraph: seconds = 0.75
        case .sentence: seconds = 0.45
        case .clause: seconds = 0.25
        case .none: seconds = 0.06
        }
        return seconds / max(self.settings.speed, 0.25)
    }
}
