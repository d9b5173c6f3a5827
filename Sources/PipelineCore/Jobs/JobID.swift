import Foundation

/// Makes job identifiers: `job_` then 26 Crockford base-32 characters, a 48-bit millisecond time and 80 random bits
/// (or 80 bits of a digest, for an identifier whose tail must be found again from what it was made from).
///
/// Identifiers made in a later millisecond sort after earlier ones (as text), like ULIDs; within one millisecond
/// their order is random, so queues keep their own insertion order for ties.
package enum JobID {
    /// Crockford's base-32 alphabet: digits and capitals without I, L, O and U.
    static let alphabet = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// A new identifier for a job created at `date`.
    package static func make(at date: Date) -> String {
        var generator = SystemRandomNumberGenerator()
        return self.make(at: date, using: &generator)
    }

    /// A new identifier for a job created at `date`, with its random part from `generator`.
    package static func make(at date: Date, using generator: inout some RandomNumberGenerator) -> String {
        let randomHigh = UInt64.random(in: 0...0xFFFF, using: &generator)
        let randomLow = UInt64.random(in: 0...UInt64.max, using: &generator)
        return self.make(at: date, tail: UInt128(randomHigh) << 64 | UInt128(randomLow))
    }

    /// An identifier for a job created at `date` whose 80 bits after the time are the first 80 bits of `digest`
    /// (at least 10 bytes) instead of random ones: jobs made from one digest share their ``tail(of:)``.
    package static func make(at date: Date, digest: [UInt8]) -> String {
        precondition(digest.count >= 10, "a job identifier's tail takes 80 bits")
        let tail = digest.prefix(10).reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
        return self.make(at: date, tail: tail)
    }

    /// The identifier's last 16 characters: its 80 bits after the time. For an identifier from ``isValid(_:)``.
    package static func tail(of id: String) -> Substring {
        id.suffix(16)
    }

    private static func make(at date: Date, tail: UInt128) -> String {
        let milliseconds = UInt64(max(0, (date.timeIntervalSince1970 * 1000).rounded())) & 0xFFFF_FFFF_FFFF
        let value = (UInt128(milliseconds) << 80) | (tail & ((UInt128(1) << 80) - 1))
        var characters: [UInt8] = Array("job_".utf8)
        characters.reserveCapacity(30)
        // 26 groups of 5 bits cover 130 bits; the first group holds the top 3 bits of the 128.
        for group in 0..<26 {
            let digit = Int((value >> (125 - 5 * group)) & 31)
            characters.append(self.alphabet[digit])
        }
        return String(decoding: characters, as: UTF8.self)
    }

    /// Whether `text` has the shape of a job identifier.
    package static func isValid(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        return utf8.count == 30 && text.hasPrefix("job_") && utf8.dropFirst(4).allSatisfy(self.alphabet.contains)
            && utf8[4] <= UInt8(ascii: "7")
    }
}
