/// A run of mono Float32 samples, cut from a longer decoded stream.
package struct AudioBlock: Sendable, Equatable {
    /// The samples, nominally in -1...1.
    package var samples: [Float]
    /// The index of the first sample in the whole stream, counted from zero at the stream's start.
    package var startSample: Int
    /// The rate of `samples`, in Hz.
    package var sampleRate: Int

    /// Creates a block.
    package init(samples: [Float], startSample: Int, sampleRate: Int) {
        self.samples = samples
        self.startSample = startSample
        self.sampleRate = sampleRate
    }

    /// The index one past the last sample.
    package var endSample: Int { self.startSample + self.samples.count }
}
