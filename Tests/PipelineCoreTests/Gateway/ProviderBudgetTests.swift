import Foundation
import PipelineCore
import Testing

struct ProviderBudgetTests {
    let log = CallLog()
    let clock = ManualClock()

    /// Whisper local (2 retries) then the cloud (2 retries), as the shipped configuration routes it.
    private func chain(local: ScriptedSpeechToText, cloud: ScriptedSpeechToText) -> FallbackChain<any SpeechToText> {
        FallbackChain(
            route: FunctionRoute(
                function: "pmoves_yt_transcription",
                candidates: [(Routes.variant("whisper_local", retries: 2, Routes.provider(local, model: "small")), 1)],
                fallbacks: [
                    Routes.variant("whisper_cloud", retries: 2, Routes.provider(cloud, model: "w", cloud: true))
                ]),
            breaker: CircuitBreaker(failureThreshold: 1000, coolDown: .seconds(30), clock: self.clock),
            clock: self.clock, random: RandomSource(seed: 3))
    }

    /// A 5xx after the upload reached the provider.
    private static func received(_ status: Int) -> ProviderFailure {
        var failure = Routes.http(status)
        failure.bytesSent = 32_000
        return failure
    }

    private func failing(_ name: String) -> ScriptedSpeechToText {
        ScriptedSpeechToText(name, log: self.log, script: Array(repeating: .fail(Self.received(500)), count: 100))
    }

    @Test
    func providersThatKeepFailingCannotMakeAJobSendMoreThanItsMultiple() async throws {
        let chain = self.chain(local: self.failing("local"), cloud: self.failing("cloud"))
        // A job of ten one-second chunks that may send its audio twice over: 20 s.
        let budget = ProviderBudget(unit: .audioSeconds, multiple: 2)
        for chunk in 0..<10 {
            budget.hold(1, part: chunk)
        }

        var stopped: GatewayError?
        var requests = 0
        await ProviderBudget.$current.withValue(budget) {
            for _ in 0..<10 {
                do {
                    _ = try await chain.transcribe(Routes.request)
                } catch let error as GatewayError {
                    requests += error.attempts.filter { $0.outcome == .failed }.count
                    if case .budgetSpent = error.reason {
                        stopped = error
                        break
                    }
                } catch {
                    Issue.record("unexpected \(error)")
                }
            }
        }

        // Six sends per chunk without a budget (three local, three cloud); with it, 20 one-second sends in all.
        #expect(requests == 20)
        #expect(self.log.calls.count == 20)
        #expect(budget.spend.sent == 20 && budget.spend.allowed == 20)
        #expect(budget.spend.cloudSent == 9, "chunks 1-3 reached the cloud three times each; chunk 4 never did")
        let reason = try #require(stopped).description
        #expect(reason.contains("provider budget is spent: 20 s sent of 20 s allowed"), "\(reason)")
        #expect(try #require(stopped).isPermanent, "a spent budget is not retried")
    }

    @Test
    func aSpentCloudCapSkipsTheCloudButLeavesLocalProvidersTheirTurn() async throws {
        let local = ScriptedSpeechToText(
            "local", log: self.log, script: Array(repeating: .fail(Self.received(503)), count: 3) + [.succeed("ok")])
        let chain = self.chain(local: local, cloud: self.failing("cloud"))
        let budget = ProviderBudget(unit: .audioSeconds, multiple: 10, cloudPerJob: 0.5)
        budget.hold(5, part: 0)

        let error = await #expect(throws: GatewayError.self) {
            try await ProviderBudget.$current.withValue(budget) { try await chain.transcribe(Routes.request) }
        }
        // The cloud was skipped with the reason; the next request goes to the local provider, which now answers.
        #expect(error?.attempts.last?.outcome == .skipped)
        #expect(error?.attempts.last?.error?.contains("cloud budget of 0.5 s is spent") == true)
        let served = try await ProviderBudget.$current.withValue(budget) { try await chain.transcribe(Routes.request) }
        #expect(served.servedBy?.provider == "local")
        #expect(self.log.calls == ["local", "local", "local", "local"])
        #expect(budget.spend.cloudSent == 0)
    }

    @Test
    func anAttemptThatReachedNoProviderCostsNothing() async throws {
        var refused = ProviderFailure(.connection, message: "connection refused")
        refused.bytesSent = 32_000  // what the request held, not what arrived
        let local = ScriptedSpeechToText(
            "local", log: self.log, script: Array(repeating: .fail(refused), count: 3))
        let chain = self.chain(local: local, cloud: ScriptedSpeechToText("cloud", log: self.log, script: []))
        let budget = ProviderBudget(unit: .audioSeconds, multiple: 1)
        budget.hold(1, part: 0)

        let served = try await ProviderBudget.$current.withValue(budget) { try await chain.transcribe(Routes.request) }

        // Three refused local attempts, then the cloud: only the cloud's second counts, within a budget of one.
        #expect(served.servedBy?.provider == "cloud")
        #expect(self.log.calls == ["local", "local", "local", "cloud"])
        #expect(budget.spend.sent == 1 && budget.spend.cloudSent == 1)
    }

    @Test
    func aHandRetryStartsTheCountAfreshButAnAutomaticRetryContinuesIt() {
        let spent = ProviderBudget.Spend(unit: .audioSeconds, allowed: 60, sent: 60, cloudSent: 0, attempt: 3)
        let next = ProviderBudget(unit: .audioSeconds, multiple: 2, previous: spent, attempt: 4)
        let afterHandRetry = ProviderBudget(unit: .audioSeconds, multiple: 2, previous: spent, attempt: 1)

        #expect(next.spend.sent == 60)
        #expect(afterHandRetry.spend.sent == 0, "jobs retry resets the attempts, and the spend with them")
    }

    @Test
    func theWorkersHourlyCloudAllowanceIsASlidingHour() {
        let start = Date(timeIntervalSince1970: 1_000_000)
        let now = LockedValue(start)
        let hourly = CloudAllowance(perHour: 100, now: { now.value })

        #expect(hourly.take(60) && hourly.take(40))
        #expect(!hourly.take(1), "the hour is full")
        now.withLock { $0 = start.addingTimeInterval(3599) }
        #expect(!hourly.take(1))
        now.withLock { $0 = start.addingTimeInterval(3600) }
        #expect(hourly.take(100), "an hour later the first sends no longer count")
        #expect(hourly.spentInLastHour == 100)
    }

    @Test
    func aRetriedAttemptContinuesTheCountAndHoldingAChunkAgainDoesNotGrowTheAllowance() {
        let first = ProviderBudget(unit: .audioSeconds, multiple: 2)
        first.hold(30, part: 0)
        first.hold(30, part: 0)
        #expect(first.spend.allowed == 60)
        #expect(first.decide(30, cloud: false) == .send)
        #expect(first.decide(30, cloud: false) == .send)

        let retried = ProviderBudget(unit: .audioSeconds, multiple: 2, previous: first.spend)
        retried.hold(30, part: 0)
        guard case .stop = retried.decide(30, cloud: false) else {
            Issue.record("the second attempt may not send what the first already spent")
            return
        }
    }

    @Test(arguments: [
        ("http://127.0.0.1:8000/v1", false), ("http://localhost:8880/v1", false), ("http://kokoro:8880/v1", false),
        ("http://10.0.3.4/v1", false), ("http://172.20.0.2:9000", false), ("http://192.168.1.9", false),
        ("http://[::1]:8000", false), ("http://gpu-box.lan:8000", false), ("http://whisper.internal", false),
        ("https://api.openai.com/v1", true), ("https://api.elevenlabs.io", true), ("http://172.32.0.1", true),
        ("http://8.8.8.8", true),
    ])
    func aProviderBillsUnlessItsHostIsLocal(_ base: String, _ cloud: Bool) {
        #expect(ProviderBudget.isCloud(apiBase: URL(string: base)) == cloud, "\(base)")
        #expect(ProviderBudget.isCloud(apiBase: nil), "no base of its own: the vendor's endpoint")
    }
}
