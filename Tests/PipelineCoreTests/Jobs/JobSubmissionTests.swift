import Foundation
import PipelineCore
import Testing

struct JobSubmissionTests {
    private let requests = JobRequests(configuration: Configuration.builtIn())

    private func submit(_ json: String) throws -> EnqueueRequest {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
        return try self.requests.validate(
            try JobSubmission.request(from: value, origin: .network, defaults: JobSubmission.Defaults()))
    }

    @Test
    func aRequestMayLowerTheDurationLimitButNeverRaiseIt() throws {
        let lowered = try self.submit(#"{"transcription": {"key": "a.mp3", "max_duration_s": 600}}"#)
        guard case .transcription(let spec) = lowered.payload else {
            Issue.record("expected a transcription")
            return
        }
        #expect(spec.maxDurationSeconds == 600)

        let raised = #expect(throws: RequestError.self) {
            try self.submit(#"{"transcription": {"key": "a.mp3", "max_duration_s": 100000}}"#)
        }
        #expect(raised?.field == "max_duration_s")
        #expect(raised?.message == "max_duration_s 100000 is above this deployment's limit of 43200 s")
        for bad in ["0", "-5", "\"long\"", "true"] {
            let error = #expect(throws: RequestError.self, "\(bad)") {
                try self.submit(#"{"transcription": {"key": "a.mp3", "max_duration_s": \#(bad)}}"#)
            }
            #expect(error?.field == "max_duration_s", "\(bad)")
        }
    }
}
