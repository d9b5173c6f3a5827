/// A stable 64-bit FNV-1a hash, for deterministic names and idempotency keys (not for security).
package enum StableHash {
    /// The hash of `parts`, joined with a separator that cannot occur in text, as 16 hex digits.
    package static func hex(_ parts: [String]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (index, part) in parts.enumerated() {
            if index > 0 {
                hash = (hash ^ 0x1F) &* 0x0000_0100_0000_01B3
            }
            for byte in part.utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            }
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
