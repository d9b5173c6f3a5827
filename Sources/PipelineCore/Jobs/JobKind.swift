/// What a job does.
package enum JobKind: String, Sendable, Codable, CaseIterable {
    /// Media in, timestamped transcript out.
    case transcribe
    /// Text in, speech audio out.
    case synthesize
}
