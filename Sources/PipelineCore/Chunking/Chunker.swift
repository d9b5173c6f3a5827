/// Cuts a stream of mono samples into chunks for transcription, at silences, as the samples arrive.
///
/// Energy voice activity over 20 ms frames, with a threshold that adapts to the recording (``LevelHistogram``),
/// marks speech. Whenever a window's worth of audio is buffered, the chunk is cut in the middle of the latest pause
/// (a silence of at least `pauseSeconds`, as between sentences) from half the unpaused window on; speech regions are
/// therefore packed into chunks as full as the window allows, as WhisperX packs them, rather than sent one by one
/// (each request costs the provider a whole 30 s window however short it is). Without a pause there, the chunk ends
/// within the unpaused window (by default the window itself): at the longest silence of its second half, else
/// blind at its end, and the next chunk then starts `overlap` earlier so the stitcher can remove the words both
/// chunks heard. So only a chunk that ends between sentences (or at the end of the audio) is longer than the
/// unpaused window; the first chunk never is, so the first request goes out early. A chunk with too little speech is
/// marked silent and never sent. With a kept pause set, every pause longer than it is shortened to it in what is sent
/// (its middle left out, ``AudioChunk/elided``), and the windows measure the audio sent: a request then carries more
/// speech for the same 30 s of Whisper, as faster-whisper's and WhisperX's voice activity filters do. Offsets are
/// sample counts. Decisions depend only on the samples, not on how they were split into blocks, so the same input
/// always gives the same chunks (checkpoints rely on it).
package struct Chunker: Sendable {
    /// How to chunk.
    package struct Settings: Sendable, Equatable {
        /// The rate of the samples, in Hz.
        package var sampleRate: Int
        /// The longest chunk, in seconds: one that ends at a pause.
        package var windowSeconds: Double
        /// The longest chunk that does not end at a pause (cut at a shorter silence, or blind), in seconds; nil for
        /// `windowSeconds`. Whisper, given more than its 30 s window of speech without a pause, may skip what its
        /// second window should have read.
        package var unpausedWindowSeconds: Double?
        /// The overlap after a blind cut, in seconds.
        package var overlapSeconds: Double
        /// The shortest silence to cut in, in seconds.
        package var minimumSilenceSeconds: Double
        /// Chunks with less speech than this, in seconds, are silent.
        package var minimumSpeechSeconds: Double
        /// A silence at least this long is a pause between sentences (Piper pauses for a comma about 0.3 s; cuts at
        /// commas cost words on its recording): the latest one in reach is the cut.
        package var pauseSeconds: Double
        /// Pauses longer than this, in seconds, are shortened to it in the audio sent; nil sends them as they are.
        package var keptPauseSeconds: Double?

        /// Creates settings; the defaults suit Whisper (30 s windows).
        package init(
            sampleRate: Int = 16_000, windowSeconds: Double = 30, overlapSeconds: Double = 2.5,
            minimumSilenceSeconds: Double = 0.06, minimumSpeechSeconds: Double = 0.25, pauseSeconds: Double = 0.5
        ) {
            self.sampleRate = sampleRate
            self.windowSeconds = windowSeconds
            self.overlapSeconds = overlapSeconds
            self.minimumSilenceSeconds = minimumSilenceSeconds
            self.minimumSpeechSeconds = minimumSpeechSeconds
            self.pauseSeconds = pauseSeconds
        }
    }

    private let settings: Settings
    private let frameSize: Int
    private let windowFrames: Int
    private let unpausedFrames: Int
    private let overlapFrames: Int
    private let minimumSilenceFrames: Int
    private let minimumSpeechFrames: Int
    private let pauseFrames: Int
    /// Frames a pause keeps in what is sent, when pauses are shortened.
    private let keptFrames: Int?
    /// The most frames one chunk may span, however much of them is left out.
    private let spanFrames: Int
    private var histogram = LevelHistogram()
    /// Buffered samples, starting at `bufferStart` (always frame-aligned).
    private var buffer: [Float] = []
    private var bufferStart = 0
    /// Levels of the complete frames in `buffer`.
    private var levels: [Float] = []
    private var nextIndex = 0
    private var pendingOverlap = 0
    /// The frame count at which the buffer is next weighed against the window.
    private var checkAt: Int

    /// Creates a chunker.
    package init(_ settings: Settings) {
        self.settings = settings
        self.frameSize = max(settings.sampleRate / 50, 1)
        self.windowFrames = max(Int(settings.windowSeconds * 50), 4)
        self.unpausedFrames = min(
            max(Int((settings.unpausedWindowSeconds ?? settings.windowSeconds) * 50), 4), self.windowFrames)
        self.overlapFrames = min(Int(settings.overlapSeconds * 50), self.unpausedFrames / 4)
        self.minimumSilenceFrames = max(Int((settings.minimumSilenceSeconds * 50).rounded(.up)), 1)
        self.minimumSpeechFrames = max(Int((settings.minimumSpeechSeconds * 50).rounded(.up)), 1)
        self.pauseFrames = max(Int((settings.pauseSeconds * 50).rounded(.up)), self.minimumSilenceFrames)
        self.keptFrames = settings.keptPauseSeconds.map { max(Int(($0 * 50).rounded()), 2) }
        self.spanFrames = self.keptFrames == nil ? self.windowFrames : 4 * self.windowFrames
        self.checkAt = self.unpausedFrames
    }

    /// Adds samples; returns the chunks they complete, in order.
    package mutating func append(_ samples: [Float]) -> [AudioChunk] {
        var chunks: [AudioChunk] = []
        var offset = 0
        while offset < samples.count {
            // Take only as much as reaches the next check, so cut decisions never depend on block boundaries.
            let room = self.checkAt * self.frameSize - self.buffer.count
            let take = min(samples.count - offset, max(room, 1))
            self.buffer.append(contentsOf: samples[offset..<(offset + take)])
            offset += take
            self.measureCompleteFrames()
            if self.levels.count >= self.checkAt {
                var sent = self.sentFrames(below: self.histogram.threshold)
                if sent >= self.window || self.levels.count >= self.span {
                    chunks.append(self.cut())
                    sent = self.sentFrames(below: self.histogram.threshold)
                }
                // The buffer can fill the window no sooner than its missing frames arrive, all of them speech.
                let missing = max(self.window - sent, 1)
                self.checkAt = max(min(self.levels.count + missing, self.span), self.levels.count + 1)
            }
        }
        return chunks
    }

    /// Ends the stream; returns the last chunk, if any audio is left.
    package mutating func finish() -> [AudioChunk] {
        self.measureCompleteFrames()
        let partial = self.buffer.count - self.levels.count * self.frameSize
        if partial > 0 {
            let level = Self.level(of: self.buffer[(self.buffer.count - partial)...])
            self.histogram.add(level)
            self.levels.append(level)
        }
        guard !self.buffer.isEmpty else { return [] }
        // The threshold may have moved since the last check and turned pauses back into audio to send.
        var chunks: [AudioChunk] = []
        while self.sentFrames(below: self.histogram.threshold) > self.window && self.levels.count > self.unpausedFrames
        {
            chunks.append(self.cut())
        }
        chunks.append(self.makeChunk(frames: self.levels.count, samples: self.buffer.count, blind: false))
        self.buffer = []
        self.levels = []
        return chunks
    }

    private mutating func measureCompleteFrames() {
        while (self.levels.count + 1) * self.frameSize <= self.buffer.count {
            let start = self.levels.count * self.frameSize
            let level = Self.level(of: self.buffer[start..<(start + self.frameSize)])
            self.histogram.add(level)
            self.levels.append(level)
        }
    }

    /// The frames buffered before a cut: the unpaused window for the first chunk, so that a job's first request
    /// does not wait for a longer window's decoding.
    private var window: Int { self.nextIndex == 0 ? self.unpausedFrames : self.windowFrames }

    /// The most frames the next chunk may span: the first no more than the unpaused window, so that it goes out as
    /// early as without shortened pauses.
    private var span: Int { self.nextIndex == 0 ? self.unpausedFrames : self.spanFrames }

    /// Cuts the first chunk off a full window: at the latest pause from half the unpaused window on, else at the
    /// longest silence of the unpaused window's second half, else blind at the unpaused window's end.
    private mutating func cut() -> AudioChunk {
        let threshold = self.histogram.threshold
        let filled = self.framesFillingTheWindow(below: threshold)
        let pauses = self.silences(in: self.unpausedFrames / 2, filled, below: threshold)
        if let pause = pauses.latestPause {
            return self.cut(in: pause)
        }
        let silences =
            filled == self.unpausedFrames
            ? pauses : self.silences(in: self.unpausedFrames / 2, self.unpausedFrames, below: threshold)
        if let silence = silences.longest {
            return self.cut(in: silence)
        }
        let chunk = self.makeChunk(
            frames: self.unpausedFrames, samples: self.unpausedFrames * self.frameSize, blind: true)
        self.dropFrames(self.unpausedFrames - self.overlapFrames)
        self.pendingOverlap = self.overlapFrames * self.frameSize
        return chunk
    }

    /// Cuts the first chunk off in the middle of `silence`.
    private mutating func cut(in silence: (start: Int, length: Int)) -> AudioChunk {
        let cutFrame = silence.start + silence.length / 2
        let chunk = self.makeChunk(frames: cutFrame, samples: cutFrame * self.frameSize, blind: false)
        self.dropFrames(cutFrame)
        return chunk
    }

    /// The latest pause and the longest silence (the later of equals) among the frames `from..<to`; a silence that
    /// reaches `to` counts as ending there.
    private func silences(in from: Int, _ to: Int, below threshold: Float) -> (
        latestPause: (start: Int, length: Int)?, longest: (start: Int, length: Int)?
    ) {
        var longest: (start: Int, length: Int)? = nil
        var latestPause: (start: Int, length: Int)? = nil
        for run in self.silentRuns(in: from, to, below: threshold) {
            // Ties go to the later silence: longer chunks, fewer requests.
            if run.length >= self.minimumSilenceFrames && run.length >= (longest?.length ?? 0) {
                longest = run
            }
            if run.length >= self.pauseFrames {
                latestPause = run
            }
        }
        return (latestPause, longest)
    }

    /// The runs of frames at or below `threshold` among the frames `from..<to`, in order; one that reaches `to` ends
    /// there.
    private func silentRuns(in from: Int, _ to: Int, below threshold: Float) -> [(start: Int, length: Int)] {
        var runs: [(start: Int, length: Int)] = []
        var runStart: Int? = nil
        for frame in from...to {
            if frame < to && self.levels[frame] <= threshold {
                if runStart == nil {
                    runStart = frame
                }
            } else if let start = runStart {
                runs.append((start, frame - start))
                runStart = nil
            }
        }
        return runs
    }

    /// How many of the buffered frames send at most a window: all of them unless the threshold moved since the last
    /// check, turning pauses back into audio to send.
    private func framesFillingTheWindow(below threshold: Float) -> Int {
        var left = self.window
        var frame = 0
        for range in self.elided(below: threshold) {
            let audible = range.lowerBound - frame
            if audible > left {
                return frame + left
            }
            left -= audible
            frame = range.upperBound
        }
        return min(frame + left, self.levels.count)
    }

    /// The buffered frames that would be sent: all of them less the middles of pauses longer than the kept pause.
    private func sentFrames(below threshold: Float) -> Int {
        self.levels.count - self.elided(below: threshold).reduce(0) { $0 + $1.count }
    }

    /// The middles of the buffer's pauses longer than the kept pause, as frame ranges; none without one. A pause at
    /// either end of the buffer counts as ending there.
    private func elided(below threshold: Float) -> [Range<Int>] {
        guard let kept = self.keptFrames else { return [] }
        return self.silentRuns(in: 0, self.levels.count, below: threshold).compactMap { run in
            guard run.length >= self.pauseFrames && run.length > kept else { return nil }
            return (run.start + kept / 2)..<(run.start + run.length - (kept - kept / 2))
        }
    }

    private mutating func makeChunk(frames: Int, samples count: Int, blind: Bool) -> AudioChunk {
        let threshold = self.histogram.threshold
        // A pause the cut splits keeps its first half's share in this chunk; the rest is the next chunk's.
        let elided = self.elided(below: threshold).compactMap { frames -> Range<Int>? in
            let start = frames.lowerBound * self.frameSize
            return start < count ? start..<min(frames.upperBound * self.frameSize, count) : nil
        }
        var speech: [Range<Int>] = []
        var speechFrames = 0
        var runStart: Int? = nil
        for frame in 0...frames {
            let isSpeech = frame < frames && self.levels[frame] > threshold
            if isSpeech {
                speechFrames += 1
                if runStart == nil {
                    runStart = frame
                }
            } else if let start = runStart {
                speech.append((start * self.frameSize)..<min(frame * self.frameSize, count))
                runStart = nil
            }
        }
        let chunk = AudioChunk(
            index: self.nextIndex, startSample: self.bufferStart, samples: Array(self.buffer[0..<count]),
            sampleRate: self.settings.sampleRate, leadingOverlap: self.pendingOverlap, endsWithBlindCut: blind,
            speech: speech, isSilent: speechFrames < self.minimumSpeechFrames, elided: elided)
        self.nextIndex += 1
        self.pendingOverlap = 0
        return chunk
    }

    private mutating func dropFrames(_ frames: Int) {
        self.buffer.removeFirst(frames * self.frameSize)
        self.levels.removeFirst(frames)
        self.bufferStart += frames * self.frameSize
    }

    /// A frame's RMS level in dBFS, floored at −100.
    private static func level(of frame: ArraySlice<Float>) -> Float {
        var sum: Float = 0
        for sample in frame {
            sum += sample * sample
        }
        let rms = (sum / Float(max(frame.count, 1))).squareRoot()
        return rms > 1e-5 ? 20 * log10(rms) : Float(LevelHistogram.floor)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
