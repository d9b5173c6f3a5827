/// A transcription that could not finish.
package enum TranscriptionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A chunk failed with every provider; the job fails with its time range and every provider's error.
    case chunkFailed(index: Int, start: Double, end: Double, cause: GatewayError)

    /// Whether retrying the job cannot help (a provider rejected the audio itself).
    package var isPermanent: Bool {
        switch self {
        case .chunkFailed(_, _, _, let cause): cause.isPermanent
        }
    }

    package var description: String {
        switch self {
        case .chunkFailed(let index, let start, let end, let cause):
            "chunk \(index) (\(Self.seconds(start))–\(Self.seconds(end)) s) failed: \(cause)"
        }
    }

    private static func seconds(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
