import Foundation
import PipelineCore
import Testing

@testable import NATSBackend

/// The ledger writes its records with `JSONWriter` and reads them with `Codable`: the written text must be what
/// `JSONEncoder` writes for the same record, member for member, and must read back as the record.
struct LedgerRecordJSONTests {
    static let at = Date(timeIntervalSinceReferenceDate: 817_884_964.392_271_6)

    static func job(_ payload: JobPayload, status: JobStatus = .queued) -> Job {
        Job(
            id: "job_01M8TPAPH7B1QFBBH0PKM7MWGW", kind: payload.kind, status: status, origin: .commandLine,
            payload: payload, createdAt: Self.at, updatedAt: Self.at, runAfter: Self.at)
    }

    static var records: [LedgerRecord] {
        let queued = LedgerRecord(
            job: Self.job(.synthesis(SynthesisJobSpec(text: "sentence 1", outputKey: "bench/1.wav"))), dispatch: 1,
            published: false, lease: nil, carrier: nil,
            history: [LedgerRecord.StatusChange(status: .queued, at: Self.at, attempts: 0)])
        var running = queued
        // Every option of the spec set, so that one the writer forgets shows.
        var spec = TranscriptionJobSpec(
            input: "media/ü \"quoted\".mp3", language: "de", outputPrefix: "transcripts/a\\b")
        spec.bucket = "assets"
        spec.function = "pmoves_yt_transcription"
        spec.prompt = "PMOVES, Whisper"
        spec.formats = ["json", "srt", "vtt", "txt"]
        spec.outAudioKey = "audio/a.wav"
        spec.videoID = "yt-1"
        spec.namespace = "pmoves"
        spec.contextID = "ctx"
        spec.maxDurationSeconds = 3600.5
        spec.ephemeral = true
        running.job = Self.job(.transcription(spec), status: .running)
        running.job.idempotencyKey = "key with \n newline, \t tab, \u{01} and 🎧"
        running.job.attempts = 2
        running.job.maxAttempts = 7
        running.job.priority = -3
        running.job.progress = JobProgress(done: 4, total: 9)
        running.job.cancelRequested = true
        running.job.runAfter = Date(timeIntervalSinceReferenceDate: 817_884_970)
        running.job.error = JobError(
            kind: "provider", message: "503 \"busy\"", permanent: false, details: ["local: 503", "cloud: no key"])
        running.dispatch = 3
        running.published = true
        running.carrier = 41
        running.checkpointed = nil
        running.lease = LedgerRecord.Holder(token: "41.2.ABC", owner: "vm:731", streamSequence: 41)
        running.history.append(
            LedgerRecord.StatusChange(status: .running, at: Self.at.addingTimeInterval(1.5), attempts: 1))
        var succeeded = running
        succeeded.lease = nil
        succeeded.checkpointed = true
        succeeded.job.status = .succeeded
        succeeded.job.outputs = ["transcripts/a.json", "transcripts/a.txt"]
        succeeded.job.result = .object([
            "chunks": .array([.number(3), .number(2.5), .number(1e20), .number(-0.001), .null, .bool(true)]),
            "text": .string("line one\nline \"two\" \\ \u{1f}"), "empty": .object([:]), "none": .array([]),
        ])
        var synthesis = queued
        var speech = SynthesisJobSpec(text: "Hello, \"world\".", outputKey: "speech/a.mp3")
        speech.bucket = "assets"
        speech.voice = "en_US-joe"
        speech.format = "mp3"
        speech.sampleRate = 22_050
        speech.speed = 1.25
        speech.function = "flute_tts_synthesis"
        speech.minimumSeconds = 0.5
        synthesis.job = Self.job(.synthesis(speech))
        return [queued, running, succeeded, synthesis]
    }

    @Test(arguments: Self.records)
    func theWrittenRecordIsWhatJSONEncoderWritesAndReadsBack(_ record: LedgerRecord) throws {
        let written = try record.json()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let expected = try encoder.encode(record)
        let parsed = try JSONSerialization.jsonObject(with: written) as? NSDictionary
        let reference = try JSONSerialization.jsonObject(with: expected) as? NSDictionary
        #expect(parsed != nil && parsed == reference, "\(String(decoding: written, as: UTF8.self))")
        #expect(try JSONDecoder().decode(LedgerRecord.self, from: written) == record)
    }

    /// The names of `value`'s stored properties that are nil, looked up by reflection.
    static func absentMembers(of value: Any) -> [String] {
        Mirror(reflecting: value).children.compactMap { child in
            let member = Mirror(reflecting: child.value)
            return member.displayStyle == .optional && member.children.isEmpty ? child.label ?? "?" : nil
        }
    }

    @Test
    func theFixturesSetEveryOptionOfTheSpecs() throws {
        // An option added to a spec later, and not to its writer, shows only where a fixture sets it: this fails
        // until the fixtures (and so the comparison above) cover it.
        for record in Self.records.dropFirst() {
            switch record.job.payload {
            case .transcription(let spec): #expect(Self.absentMembers(of: spec) == [])
            case .synthesis(let spec): #expect(Self.absentMembers(of: spec) == [])
            }
        }
        #expect(Self.absentMembers(of: Self.records[2].job) == [])
        #expect(Self.absentMembers(of: Self.records[1]) == ["checkpointed"])
    }

    @Test
    func everyStringReadsBackAsWritten() throws {
        let text = String(decoding: (0..<0x80).map { UInt8($0) }, as: UTF8.self) + "é€𝄞\u{2028}"
        var writer = JSONWriter()
        writer.array([text, ""]) { writer, element in writer.string(element) }
        #expect(try JSONSerialization.jsonObject(with: writer.data) as? [String] == [text, ""])
        var numbers = JSONWriter()
        #expect(throws: JSONWriter.InvalidNumber.self) { try numbers.number(.nan) }
        #expect(throws: JSONWriter.InvalidNumber.self) { try numbers.value(.number(.infinity)) }
    }
}
