import Foundation
import PipelineCore
import Testing

struct ProviderFailureTests {
    private func classify(_ status: Int, _ body: String, headers: [String: String] = [:]) -> ProviderFailure {
        ProviderFailure.from(response: HTTPResponse(status: status, headers: headers, body: Data(body.utf8)))
    }

    @Test(arguments: [408, 429, 500, 502, 503, 504])
    func transientStatusesAreRetried(status: Int) {
        #expect(self.classify(status, "{}").disposition == .retry)
    }

    @Test(arguments: [401, 403, 404, 409])
    func statusesThatWillNotHealMoveToTheNextProvider(status: Int) {
        #expect(self.classify(status, #"{"error":{"message":"nope"}}"#).disposition == .nextProvider)
    }

    @Test
    func aRejectedAudioFileIsFatalWithTheProvidersMessage() {
        let failure = self.classify(
            400,
            #"{"error":{"message":"could not decode audio: invalid header","type":"invalid_request_error","code":"invalid_audio"}}"#
        )

        #expect(failure.kind == .badInput)
        #expect(failure.disposition == .fatal)
        #expect(failure.message == "could not decode audio: invalid header")
    }

    @Test
    func aBadRequestAboutParametersMovesOnInsteadOfFailing() {
        #expect(self.classify(400, #"{"error":{"message":"unknown model 'x'"}}"#).disposition == .nextProvider)
    }

    @Test
    func retryAfterIsReadInSecondsAndQuotaIsNotRetried() {
        let limited = self.classify(
            429, #"{"error":{"message":"slow down","code":"rate_limit_exceeded"}}"#, headers: ["Retry-After": "2"])
        let quota = self.classify(429, #"{"error":{"message":"pay up","code":"insufficient_quota"}}"#)

        #expect(limited.retryAfter == .seconds(2))
        #expect(limited.disposition == .retry)
        #expect(quota.disposition == .nextProvider)
    }

    @Test(arguments: [
        ("2", Duration.seconds(2)), ("1.5", .milliseconds(1500)), (" 0 ", .zero), ("1e30", .seconds(86_400)),
        ("1E3", .seconds(1000)), ("1e999", .seconds(86_400)), ("86401", .seconds(86_400)),
        ("Sun, 06 Nov 1994 08:49:37 GMT", .zero), (String(repeating: "9", count: 5000), .seconds(86_400)),
    ])
    func retryAfterValuesAreReadOrCappedAtADay(_ value: String, _ expected: Duration) {
        #expect(ProviderFailure.parseRetryAfter(value) == expected)
    }

    @Test(arguments: ["-5", "soon", "", "e5", "+5", "1e", String(repeating: "x", count: 5000), "NaN", "inf"])
    func retryAfterValuesThatAreNeitherNumberNorDateAreIgnored(_ value: String) {
        #expect(ProviderFailure.parseRetryAfter(value) == nil)
    }

    @Test(arguments: [
        (#"{"detail":"Model not installed locally"}"#, "Model not installed locally"),
        (#"{"detail":{"status":"quota","message":"over quota"}}"#, "over quota"),
        (#"{"detail":[{"loc":["body","speed"],"msg":"value is too large"}]}"#, "value is too large"),
        (#"{"error":"failed to read audio"}"#, "failed to read audio"),
        ("Internal Server Error", "Internal Server Error"),
    ])
    func errorMessagesAreReadFromEveryCommonShape(body: String, message: String) {
        #expect(self.classify(500, body).message == message)
    }
}

struct CredentialLocationTests {
    @Test(arguments: [
        ("env::OPENAI_API_KEY", CredentialLocation.environment("OPENAI_API_KEY")),
        ("path::/run/key", .file("/run/key")),
        ("path_from_env::KEY_FILE", .fileFromEnvironment("KEY_FILE")), ("none", CredentialLocation.none), ("sdk", .sdk),
    ])
    func parsesTensorZerosSyntax(text: String, location: CredentialLocation) {
        #expect(CredentialLocation(parsing: text) == location)
    }

    @Test(arguments: ["env:OPENAI_API_KEY", "env::", "file::x", ""])
    func rejectsAnythingElse(text: String) {
        #expect(CredentialLocation(parsing: text) == nil)
    }

    @Test
    func resolvesFromTheEnvironmentAndFilesWithoutRevealingKeys() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID())")
        try "  sk-from-file\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }

        #expect(try CredentialLocation.environment("K").resolve(environment: ["K": "v"]).get()?.reveal() == "v")
        #expect(try CredentialLocation.file(file.path).resolve(environment: [:]).get()?.reveal() == "sk-from-file")
        #expect(try CredentialLocation.none.resolve(environment: [:]).get() == nil)
        let fallback = CredentialLocation.withFallback(.environment("MISSING"), .environment("K"))
        #expect(try fallback.resolve(environment: ["K": "second"]).get()?.reveal() == "second")
        guard case .failure(let problem) = CredentialLocation.environment("MISSING").resolve(environment: [:]) else {
            Issue.record("expected a failure")
            return
        }
        #expect(problem.reason == "environment variable MISSING is not set")
    }
}
