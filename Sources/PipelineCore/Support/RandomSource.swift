import Synchronization

/// A thread-safe random source: seeded (reproducible draws for tests and `[gateway] seed`) or from the system.
package final class RandomSource: Sendable {
    private let state: Mutex<UInt64>
    private let seeded: Bool

    /// A source seeded with `seed` (SplitMix64), or the system generator when nil.
    package init(seed: UInt64?) {
        self.state = Mutex(seed ?? 0)
        self.seeded = seed != nil
    }

    /// A uniformly distributed number in `0..<1`.
    package func unit() -> Double {
        guard self.seeded else { return Double.random(in: 0..<1) }
        let bits = self.state.withLock { state -> UInt64 in
            state &+= 0x9E37_79B9_7F4A_7C15
            var mixed = state
            mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
            return mixed ^ (mixed >> 31)
        }
        return Double(bits >> 11) / Double(1 << 53)
    }
}
