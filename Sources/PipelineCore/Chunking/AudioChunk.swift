/// A slice of the decoded stream to transcribe in one request, with what the chunker learned about it.
package struct AudioChunk: Sendable, Equatable {
    /// The chunk's position in the stream, from zero; stable across runs of the same input.
    package var index: Int
    /// The index of its first sample in the whole stream.
    package var startSample: Int
    /// The samples.
    package var samples: [Float]
    /// Their rate, in Hz.
    package var sampleRate: Int
    /// Samples at the start shared with the previous chunk, which ended with a blind cut (no silence to cut in).
    package var leadingOverlap: Int
    /// Whether this chunk ends with a blind cut, so the next one overlaps it.
    package var endsWithBlindCut: Bool
    /// Stretches judged to be speech, as sample ranges relative to the chunk's start.
    package var speech: [Range<Int>]
    /// Whether the chunk holds too little speech to send.
    package var isSilent: Bool
    /// The middles of long pauses, left out of what is sent, as sorted sample ranges relative to the chunk's start.
    package var elided: [Range<Int>]

    /// Creates a chunk.
    package init(
        index: Int, startSample: Int, samples: [Float], sampleRate: Int, leadingOverlap: Int = 0,
        endsWithBlindCut: Bool = false, speech: [Range<Int>] = [], isSilent: Bool = false, elided: [Range<Int>] = []
    ) {
        self.index = index
        self.startSample = startSample
        self.samples = samples
        self.sampleRate = sampleRate
        self.leadingOverlap = leadingOverlap
        self.endsWithBlindCut = endsWithBlindCut
        self.speech = speech
        self.isSilent = isSilent
        self.elided = elided
    }

    /// The index one past its last sample in the whole stream.
    package var endSample: Int { self.startSample + self.samples.count }

    /// Its start in seconds.
    package var startSeconds: Double { Double(self.startSample) / Double(self.sampleRate) }

    /// Its end in seconds.
    package var endSeconds: Double { Double(self.endSample) / Double(self.sampleRate) }
}
