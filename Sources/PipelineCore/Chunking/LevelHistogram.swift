/// A running histogram of frame levels (dBFS) from which the chunker derives a speech threshold that adapts
/// to the recording: quiet and loud files, clean and noisy ones.
package struct LevelHistogram: Sendable, Equatable {
    /// The lowest level counted; quieter frames (digital silence) count here.
    package static let floor = -100
    private var counts = [Int](repeating: 0, count: 101)
    private(set) var total = 0

    /// Creates an empty histogram.
    package init() {}

    /// Counts one frame's level.
    package mutating func add(_ level: Float) {
        let bin = Int((max(min(level, 0), Float(Self.floor))).rounded()) - Self.floor
        self.counts[bin] += 1
        self.total += 1
    }

    /// The level below which `fraction` of the frames lie.
    package func percentile(_ fraction: Double) -> Float {
        guard self.total > 0 else { return Float(Self.floor) }
        let target = Int((Double(self.total) * fraction).rounded(.up))
        var seen = 0
        for (bin, count) in self.counts.enumerated() {
            seen += count
            if seen >= max(target, 1) {
                return Float(bin + Self.floor)
            }
        }
        return 0
    }

    /// The speech threshold: the noise floor (10th percentile) plus a third of the distance to the speech level
    /// (95th percentile), and at least 6 dB above the floor. Frames above it are speech.
    ///
    /// When the two are less than 15 dB apart the recording has no real pauses (continuous speech or music: the
    /// "floor" is only the dips between syllables), and no frame counts as silence, except that a frame at or
    /// below ``quietest`` never counts as speech: a recording of digital silence is silent, not all speech.
    package var threshold: Float {
        let noise = self.percentile(0.10)
        let speech = self.percentile(0.95)
        guard speech - noise >= 15 else { return max(noise - 3, Self.quietest) }
        return max(noise + max(6, (speech - noise) / 3), Self.quietest)
    }

    /// The level (dBFS) at or below which no frame is speech: 30 dB under the quietest speech anyone records.
    package static let quietest: Float = -70
}
