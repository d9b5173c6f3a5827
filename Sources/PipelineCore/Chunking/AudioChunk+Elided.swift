/// What is sent for a chunk whose long pauses are shortened, and the way back from its times to the chunk's own.
extension AudioChunk {
    /// The samples to send: all of them but the elided ranges.
    package var sentSamples: [Float] {
        guard !self.elided.isEmpty else { return self.samples }
        var sent: [Float] = []
        sent.reserveCapacity(self.samples.count - self.elided.reduce(0) { $0 + $1.count })
        var next = 0
        for range in self.elided {
            sent += self.samples[next..<range.lowerBound]
            next = range.upperBound
        }
        sent += self.samples[next...]
        return sent
    }

    /// The chunk's audio from sample `first` on, as a chunk of its own (its index and start unchanged, its speech and
    /// elided ranges moved and clipped): what is sent again of a tail, with its long pauses shortened too.
    package func suffix(from first: Int) -> AudioChunk {
        let first = min(max(first, 0), self.samples.count)
        func moved(_ ranges: [Range<Int>]) -> [Range<Int>] {
            ranges.compactMap { range in
                range.upperBound > first ? (max(range.lowerBound, first) - first)..<(range.upperBound - first) : nil
            }
        }
        return AudioChunk(
            index: self.index, startSample: self.startSample + first, samples: Array(self.samples[first...]),
            sampleRate: self.sampleRate, speech: moved(self.speech), elided: moved(self.elided))
    }

    /// Where the audio sent ends, in seconds on the chunk's time line: before the elided range that reaches the
    /// chunk's end (the half of a pause a cut left in it), if any.
    package var sentEndSeconds: Double {
        let end = self.elided.last.map { $0.upperBound == self.samples.count ? $0.lowerBound : self.samples.count }
        return Double(end ?? self.samples.count) / Double(self.sampleRate)
    }

    /// `transcript`, whose times are in the audio sent, with its times in the chunk's own: each elided range is put
    /// back where it was left out. A start where a range was left out moves to the range's end (speech resumes
    /// there) and an end to its start; nothing ends before it starts.
    package func inChunkTime(_ transcript: Transcript) -> Transcript {
        guard !self.elided.isEmpty else { return transcript }
        let rate = Double(self.sampleRate)
        // Where each range was left out in the sent audio, and how far later everything after it lies in the chunk.
        var seams: [(sent: Double, shift: Double)] = []
        var removed = 0
        for range in self.elided {
            seams.append((Double(range.lowerBound - removed) / rate, Double(removed + range.count) / rate))
            removed += range.count
        }
        let length = Double(self.samples.count) / rate
        func place(_ time: Double, isStart: Bool) -> Double {
            var shift = 0.0
            for seam in seams {
                guard isStart ? seam.sent <= time : seam.sent < time else { break }
                shift = seam.shift
            }
            return min(max(time + shift, 0), length)
        }
        func span(_ start: Double, _ end: Double) -> (Double, Double) {
            let start = place(start, isStart: true)
            return (start, max(place(end, isStart: false), start))
        }
        func placed(_ word: TranscriptWord) -> TranscriptWord {
            var word = word
            (word.start, word.end) = span(word.start, word.end)
            return word
        }
        var result = transcript
        result.segments = transcript.segments.map { segment in
            var segment = segment
            (segment.start, segment.end) = span(segment.start, segment.end)
            segment.words = segment.words?.map(placed)
            return segment
        }
        result.words = transcript.words.map(placed)
        if result.duration != nil {
            result.duration = length
        }
        return result
    }
}
