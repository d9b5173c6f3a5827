/// What a finished (or abandoned) decode produced, and what it had to skip.
package struct DecodeSummary: Sendable, Equatable {
    /// Output samples delivered so far, at the output rate.
    package var samples: Int = 0
    /// Packets the decoder rejected as corrupt and that were skipped.
    package var skippedPackets: Int = 0
    /// Times the input's sample rate or channel layout changed mid-stream.
    package var formatChanges: Int = 0
    /// True when reading stopped at an error rather than at a clean end of file.
    package var truncated: Bool = false
    /// Human-readable notes about anything lost or odd, in the order they happened.
    package var warnings: [String] = []

    /// Creates an empty summary.
    package init() {}
}
