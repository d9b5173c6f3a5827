import PipelineCore
import Testing

struct ChunkerTests {
    private func chunks(
        _ samples: [Float], block: Int = 32_000, window: Double = 30, unpaused: Double? = nil, overlap: Double = 2.5,
        keptPause: Double? = nil
    ) -> [AudioChunk] {
        var settings = Chunker.Settings(sampleRate: Signals.rate, windowSeconds: window, overlapSeconds: overlap)
        settings.unpausedWindowSeconds = unpaused
        settings.keptPauseSeconds = keptPause
        var chunker = Chunker(settings)
        var result: [AudioChunk] = []
        var offset = 0
        while offset < samples.count {
            let end = min(offset + block, samples.count)
            result += chunker.append(Array(samples[offset..<end]))
            offset = end
        }
        return result + chunker.finish()
    }

    /// Speech in runs of 4–9 s with pauses of 0.4–1.5 s, 150 s in all.
    static let conversation: [Signals.Part] = {
        var parts: [Signals.Part] = []
        var pattern = [(6.0, 0.6), (4.5, 1.2), (8.0, 0.4), (5.0, 0.9), (9.0, 1.5), (7.0, 0.5)]
        var total = 0.0
        while total < 150 {
            let (speech, pause) = pattern.removeFirst()
            pattern.append((speech, pause))
            parts += [.tone(speech), .silence(pause)]
            total += speech + pause
        }
        return parts
    }()

    @Test
    func cutsLandInSilencesAndNoChunkIsLongerThanTheWindow() {
        let (samples, silences) = Signals.make(Self.conversation)

        let chunks = self.chunks(samples)

        #expect(chunks.count >= 5)
        for chunk in chunks {
            #expect(Double(chunk.samples.count) / Double(Signals.rate) <= 30.0)
            #expect(!chunk.endsWithBlindCut && chunk.leadingOverlap == 0)
        }
        for chunk in chunks.dropLast() {
            let cut = chunk.endSample
            #expect(silences.contains { $0.contains(cut) }, "cut at \(Double(cut) / 16_000) s is not in a silence")
        }
        // Contiguous: every sample is in exactly one chunk.
        #expect(zip(chunks, chunks.dropFirst()).allSatisfy { $0.endSample == $1.startSample })
        #expect(chunks.last?.endSample == samples.count)
        #expect(chunks.map(\.index) == Array(0..<chunks.count))
    }

    @Test
    func aChunkLongerThanTheUnpausedWindowEndsAtAPause() {
        let seconds = { (sample: Int) in Double(sample) / 16_000 }
        // Sentences with pauses: the first chunk within 28 s, so the first request goes out early; the others run to
        // the latest pause within 56 s.
        let (talk, pauses) = Signals.make(Self.conversation)
        let long = self.chunks(talk, window: 56, unpaused: 28)
        #expect(long.count >= 4 && seconds(long[0].samples.count) > 20 && seconds(long[0].samples.count) <= 28)
        let middle = long.dropFirst().dropLast().map { seconds($0.samples.count) }
        #expect(middle.allSatisfy { $0 > 40 && $0 <= 56 }, "\(middle)")
        #expect(long.dropLast().allSatisfy { chunk in pauses.contains { $0.contains(chunk.endSample) } })
        #expect(!long.contains { $0.endsWithBlindCut })

        // A pause at 20 s, then only commas' pauses (0.3 s) to 56 s: the cut is within 28 s, at the pause.
        let (commas, _) = Signals.make(
            [.tone(20), .silence(0.6)] + Array(repeating: [.tone(6), .silence(0.3)], count: 7).flatMap { $0 })
        let first = self.chunks(commas, window: 56, unpaused: 28)[0]
        #expect(abs(seconds(first.endSample) - 20.3) < 0.05, "cut in the middle of the pause at 20 s")
        // Only commas: the latest longest silence within the unpaused window.
        let (clauses, breaths) = Signals.make(Array(repeating: [.tone(6), .silence(0.3)], count: 10).flatMap { $0 })
        let short = self.chunks(clauses, window: 56, unpaused: 28)
        #expect(abs(seconds(short[0].endSample) - 25.04) < 0.05, "the later of the commas at 18.6 and 24.9 s")
        #expect(breaths.contains { $0.contains(short[0].endSample) } && !short[0].endsWithBlindCut)

        // No silence at all: a blind cut at 28 s, the next chunk starting 2.5 s earlier and running to the end (less
        // than 56 s).
        let (speech, _) = Signals.make([.tone(70)])
        let blind = self.chunks(speech, window: 56, unpaused: 28)
        #expect(blind.count == 2 && blind[0].endsWithBlindCut && blind[0].samples.count == 28 * 16_000)
        #expect(blind.last?.leadingOverlap == 40_000 && blind.last.map { seconds($0.startSample) } == 25.5)
        #expect(blind.last?.endSample == 70 * 16_000)
    }

    @Test
    func aLaterChunkWithoutAPauseEndsWithinTheUnpausedWindow() {
        let seconds = { (sample: Int) in Double(sample) / 16_000 }
        let commas = Array(repeating: [Signals.Part.tone(6), .silence(0.3)], count: 11).flatMap { $0 }
        // The second chunk starts at 20.3 s and holds only commas: the later of the two in its unpaused window's
        // second half (39.2 and 45.5 s), not the window's end at 76.3 s.
        let (clauses, breaths) = Signals.make([.tone(20), .silence(0.6)] + commas)
        let chunks = self.chunks(clauses, window: 56, unpaused: 28)
        #expect(chunks.count >= 3 && abs(seconds(chunks[0].endSample) - 20.3) < 0.05)
        #expect(abs(seconds(chunks[1].endSample) - 45.65) < 0.05, "\(seconds(chunks[1].endSample))")
        #expect(breaths.contains { $0.contains(chunks[1].endSample) } && !chunks[1].endsWithBlindCut)

        // No silence after the first pause: the second chunk is cut blind 28 s after it starts.
        let (speech, _) = Signals.make([.tone(20), .silence(0.6), .tone(70)])
        let blind = self.chunks(speech, window: 56, unpaused: 28)
        #expect(blind.count == 3 && blind[1].endsWithBlindCut && blind[1].samples.count == 28 * 16_000)
        #expect(blind[2].leadingOverlap == 40_000 && seconds(blind[2].startSample) == seconds(blind[1].endSample) - 2.5)
    }

    @Test
    func theCutIsInTheWindowsSecondHalfAtTheLongestSilence() {
        // Silences at 8 s (2 s long), 18 s (0.3 s) and 24 s (1 s): the 2 s one is in the first half.
        let (samples, _) = Signals.make([
            .tone(8), .silence(2), .tone(8), .silence(0.3), .tone(5.7), .silence(1), .tone(10),
        ])

        let first = self.chunks(samples)[0]

        #expect(abs(Double(first.endSample) / 16_000 - 24.5) < 0.05, "cut in the middle of the 1 s silence at 24 s")
    }

    @Test
    func theCutIsAtTheLatestPauseOrWithoutOneAtTheLongestSilence() {
        // A long silence at 16 s (1.5 s) and a pause between sentences at 27 s (0.6 s): the chunk runs to the pause.
        let (paused, _) = Signals.make([.tone(16), .silence(1.5), .tone(9.5), .silence(0.6), .tone(10)])
        // The same with only a comma's pause at 27 s (0.3 s, shorter than `pauseSeconds`): the longest silence wins.
        let (breath, _) = Signals.make([.tone(16), .silence(1.5), .tone(9.5), .silence(0.3), .tone(10)])

        let latest = self.chunks(paused)[0]
        let longest = self.chunks(breath)[0]

        #expect(abs(Double(latest.endSample) / 16_000 - 27.3) < 0.05, "cut in the middle of the pause at 27 s")
        #expect(abs(Double(longest.endSample) / 16_000 - 16.75) < 0.05, "cut in the middle of the silence at 16 s")
    }

    @Test
    func withoutAnySilenceTheCutIsBlindAndTheNextChunkOverlaps() {
        let (samples, _) = Signals.make([.tone(70)])

        let chunks = self.chunks(samples)

        #expect(chunks.count == 3)
        #expect(chunks[0].endsWithBlindCut && chunks[0].samples.count == 30 * 16_000)
        #expect(chunks[1].startSample == Int(27.5 * 16_000))
        #expect(chunks[1].leadingOverlap == Int(2.5 * 16_000))
        #expect(chunks[2].endSample == samples.count)
    }

    @Test(arguments: [(Float(0.3), Float(0)), (0.003, 0.0001), (0.9, 0.02)])
    func quietAndLoudRecordingsAreCutInTheirSilences(amplitude: Float, noise: Float) {
        let parts: [Signals.Part] = Self.conversation.map { part in
            switch part {
            case .tone(let seconds, _): .tone(seconds, amplitude: amplitude)
            case .silence(let seconds, _): .silence(seconds, noise: noise)
            }
        }
        let (samples, silences) = Signals.make(parts)

        let chunks = self.chunks(samples)

        #expect(chunks.allSatisfy { !$0.endsWithBlindCut })
        for chunk in chunks.dropLast() {
            #expect(silences.contains { $0.contains(chunk.endSample) })
        }
    }

    @Test
    func aChunkOfSilenceIsMarkedAndNeverSent() {
        let (samples, _) = Signals.make([.tone(10), .silence(0.5), .tone(10), .silence(45), .tone(12)])

        let chunks = self.chunks(samples)

        let silent = chunks.filter(\.isSilent)
        #expect(!silent.isEmpty)
        #expect(silent.allSatisfy { $0.speech.isEmpty })
        #expect(chunks.filter { !$0.isSilent }.allSatisfy { !$0.speech.isEmpty })
    }

    @Test(arguments: [Float(0), 0.00001])
    func aRecordingOfNothingButDigitalSilenceOrDitherIsSilentThroughout(level: Float) {
        // Nothing louder than -100 dBFS: with no level contrast the adaptive threshold alone would call it speech.
        let samples = (0..<(Signals.rate * 70)).map { index in index % 2 == 0 ? level : -level }

        let chunks = self.chunks(samples)

        #expect(chunks.count >= 3)
        #expect(chunks.allSatisfy { $0.isSilent })
        #expect(LevelHistogram().threshold >= LevelHistogram.quietest)
    }

    @Test
    func speechStretchesAreReportedPerChunk() {
        let (samples, _) = Signals.make([.silence(2), .tone(3), .silence(1), .tone(2)])

        let chunk = self.chunks(samples)[0]

        #expect(chunk.speech.count == 2)
        #expect(abs(Double(chunk.speech[0].lowerBound) / 16_000 - 2) < 0.03)
        #expect(abs(Double(chunk.speech[1].upperBound) / 16_000 - 8) < 0.03)
    }

    @Test(arguments: [1_000, 4_321, 32_000, 160_000])
    func theSameInputGivesTheSameChunksWhateverTheBlockSize(block: Int) {
        let (samples, _) = Signals.make(Self.conversation + [.tone(40)])

        let reference = self.chunks(samples, block: 16_000)
        let chunks = self.chunks(samples, block: block)

        #expect(chunks == reference)
        // The same with a longer window for chunks that end at a pause.
        let (clauses, _) = Signals.make(
            Self.conversation + Array(repeating: [Signals.Part.tone(6), .silence(0.3)], count: 12).flatMap { $0 }
                + [.tone(70)])
        let long = self.chunks(clauses, block: block, window: 56, unpaused: 28)
        #expect(long == self.chunks(clauses, block: 16_000, window: 56, unpaused: 28))
        #expect(long.contains { $0.endsWithBlindCut })
        // And with pauses shortened, where the buffer is weighed by what it would send.
        let kept = self.chunks(clauses, block: block, window: 28, keptPause: 0.3)
        #expect(kept == self.chunks(clauses, block: 16_000, window: 28, keptPause: 0.3))
        #expect(kept.contains { !$0.elided.isEmpty })
    }

    /// The conversation, then sentences of 4 s with pauses of 2 s as in reading aloud: 390 s.
    static let readAloud: [Signals.Part] =
        Self.conversation + Array(repeating: [Signals.Part.tone(4), .silence(2)], count: 40).flatMap { $0 }

    @Test
    func withPausesShortenedTheWindowMeasuresTheAudioSent() {
        let (samples, silences) = Signals.make(Self.readAloud)
        let seconds = { (count: Int) in Double(count) / 16_000 }

        let plain = self.chunks(samples)
        let chunks = self.chunks(samples, keptPause: 0.2)

        #expect(plain.allSatisfy { $0.elided.isEmpty })
        #expect(chunks.count < plain.count)
        #expect(chunks.contains { seconds($0.samples.count) > 30 })
        for chunk in chunks {
            #expect(seconds(chunk.sentSamples.count) <= 30.0)
            #expect(chunk.sentSamples.count == chunk.samples.count - chunk.elided.reduce(0) { $0 + $1.count })
            #expect(zip(chunk.elided, chunk.elided.dropFirst()).allSatisfy { $0.upperBound < $1.lowerBound })
            for range in chunk.elided {
                // Inside one pause, never at its edge: a pause keeps 0.1 s of silence either side of what is left
                // out (the half a cut leaves in a chunk keeps its share at the speech's side).
                let start = chunk.startSample + range.lowerBound
                let end = chunk.startSample + range.upperBound
                let pause = silences.first { $0.contains(start) }
                #expect(pause != nil, "elided from \(seconds(start)) s, not in a pause")
                if let pause {
                    #expect(end <= pause.upperBound)
                    #expect(
                        seconds(start - pause.lowerBound) > 0.06
                            && (end == chunk.endSample || seconds(pause.upperBound - end) > 0.06))
                }
            }
        }
        for chunk in chunks.dropLast() {
            #expect(silences.contains { $0.contains(chunk.endSample) })
        }
        #expect(zip(chunks, chunks.dropFirst()).allSatisfy { $0.endSample == $1.startSample })
        #expect(chunks.last?.endSample == samples.count)
    }

    @Test
    func withTheLevelsChangingNoChunkSendsMoreThanTheWindowAndTheFirstSpansNoMore() {
        // Quiet then loud speech over a rising noise floor: the adaptive threshold moves as the audio arrives.
        var parts: [Signals.Part] = []
        for step in 0..<60 {
            let amplitude = Float(0.02 + 0.01 * Double(step % 30))
            parts += [
                .tone(3 + Double(step % 4), amplitude: amplitude),
                .silence(0.6 + 0.4 * Double(step % 3), noise: 0.0004 * Float(step)),
            ]
        }
        let (samples, _) = Signals.make(parts)

        for block in [7_777, 160_000] {
            let chunks = self.chunks(samples, block: block, window: 28, keptPause: 0.4)
            #expect(chunks.contains { !$0.elided.isEmpty })
            #expect(chunks.allSatisfy { Double($0.sentSamples.count) / 16_000 <= 28.0 })
            #expect(Double(chunks[0].samples.count) / 16_000 <= 28.0)
            #expect(chunks.last?.endSample == samples.count)
        }
    }

    @Test
    func aLongSilenceIsShortenedButNoChunkSpansMoreThanFourWindows() {
        let (samples, _) = Signals.make([.tone(8), .silence(200), .tone(8)])

        let chunks = self.chunks(samples, keptPause: 0.4)

        #expect(chunks.allSatisfy { Double($0.samples.count) / 16_000 <= 120 })
        #expect(chunks.allSatisfy { Double($0.sentSamples.count) / 16_000 <= 30 })
        #expect(chunks.filter { !$0.isSilent }.count == 2)
        #expect(chunks.last?.endSample == samples.count)
    }

    @Test
    func aShortInputIsOneChunkAndEmptyInputIsNone() {
        #expect(self.chunks(Signals.make([.tone(5)]).samples).count == 1)
        #expect(self.chunks([]).isEmpty)
    }
}
