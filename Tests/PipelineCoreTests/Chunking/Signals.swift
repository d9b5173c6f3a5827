import Foundation

/// Synthetic test signals: tones and silences at exact sample positions.
enum Signals {
    static let rate = 16_000

    /// A description: speech-like tone or silence, with a duration in seconds.
    enum Part {
        case tone(Double, amplitude: Float = 0.3)
        case silence(Double, noise: Float = 0)
    }

    /// The samples, and the silence intervals (sample ranges) in them.
    static func make(_ parts: [Part]) -> (samples: [Float], silences: [Range<Int>]) {
        var samples: [Float] = []
        var silences: [Range<Int>] = []
        var seed: UInt64 = 42
        func noise() -> Float {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: seed >> 11) % 2000 - 1000) / 1000
        }
        for part in parts {
            switch part {
            case .tone(let seconds, let amplitude):
                let count = Int(seconds * Double(self.rate))
                let start = samples.count
                // A warbling tone, like a voice: amplitude-modulated so it is never flat.
                samples += (0..<count).map { index in
                    let t = Double(start + index) / Double(self.rate)
                    return amplitude * Float(sin(2 * .pi * 220 * t) * (0.6 + 0.4 * sin(2 * .pi * 3 * t)))
                }
            case .silence(let seconds, let level):
                let count = Int(seconds * Double(self.rate))
                silences.append(samples.count..<(samples.count + count))
                samples += (0..<count).map { _ in level * noise() }
            }
        }
        return (samples, silences)
    }
}
