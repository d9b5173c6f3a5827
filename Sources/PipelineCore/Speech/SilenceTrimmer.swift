/// Trims silence from the ends of a synthesized piece so pauses at joins are the ones the pipeline chooses.
package struct SilenceTrimmer: Sendable {
    /// Frames quieter than this, in dBFS, are silence (Kokoro-FastAPI uses −45).
    package var thresholdDecibels: Float
    /// Silence kept before the first loud frame, in seconds.
    package var keepLeading: Double
    /// Silence kept after the last loud frame, in seconds.
    package var keepTrailing: Double

    /// Creates a trimmer.
    package init(thresholdDecibels: Float = -45, keepLeading: Double = 0.03, keepTrailing: Double = 0.05) {
        self.thresholdDecibels = thresholdDecibels
        self.keepLeading = keepLeading
        self.keepTrailing = keepTrailing
    }

    /// The range of `samples` to keep; empty when every frame is silent.
    package func audibleRange(of samples: [Float], sampleRate: Int) -> Range<Int> {
        let frame = max(sampleRate / 100, 1)
        let threshold = pow(10, self.thresholdDecibels / 20)
        func loud(_ frameIndex: Int) -> Bool {
            let start = frameIndex * frame
            let end = min(start + frame, samples.count)
            var sum: Float = 0
            for index in start..<end {
                sum += samples[index] * samples[index]
            }
            return (sum / Float(max(end - start, 1))).squareRoot() > threshold
        }
        let frames = (samples.count + frame - 1) / frame
        guard let first = (0..<frames).first(where: loud), let last = (0..<frames).last(where: loud) else {
            return 0..<0
        }
        let start = max(first * frame - Int(self.keepLeading * Double(sampleRate)), 0)
        let end = min((last + 1) * frame + Int(self.keepTrailing * Double(sampleRate)), samples.count)
        return start..<end
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif
