import PipelineCore
import Testing

struct FallbackChainTests {
    let log = CallLog()
    let clock = ManualClock()

    private func chain(
        candidates: [(RouteVariant<any SpeechToText>, Double)], fallbacks: [RouteVariant<any SpeechToText>] = [],
        extras: [(RouteVariant<any SpeechToText>, String)] = [], failures: Int = 5, seed: UInt64 = 7
    ) -> FallbackChain<any SpeechToText> {
        FallbackChain(
            route: FunctionRoute(
                function: "pmoves_yt_transcription", candidates: candidates.map { ($0.0, $0.1) }, fallbacks: fallbacks,
                extras: extras.map { ($0.0, $0.1) }),
            breaker: CircuitBreaker(failureThreshold: failures, coolDown: .seconds(30), clock: self.clock),
            clock: self.clock, random: RandomSource(seed: seed))
    }

    @Test
    func transientFailuresAreRetriedWithBackoffThenSucceed() async throws {
        let local = ScriptedSpeechToText(
            "local", log: self.log, script: [.fail(Routes.http(503)), .fail(Routes.http(503))])
        let chain = self.chain(candidates: [
            (Routes.variant("whisper_local", retries: 2, Routes.provider(local, model: "small")), 1)
        ])

        let result = try await chain.transcribe(Routes.request)

        #expect(self.log.calls == ["local", "local", "local"])
        #expect(result.attempts.map(\.outcome) == [.failed, .failed, .ok])
        #expect(result.attempts.map(\.status) == [503, 503, 200])
        #expect(
            result.servedBy
                == ServedBy(
                    function: "pmoves_yt_transcription", variant: "whisper_local", model: "small", provider: "local"))
        #expect(result.transcript.segments.first?.provider == "small/local")
        // Exponential: about 1 s then about 2 s, each jittered into 50–100 %.
        let sleeps = self.clock.sleeps.map(\.seconds)
        #expect(sleeps.count == 2)
        #expect((0.5...1.0).contains(sleeps[0]) && (1.0...2.0).contains(sleeps[1]), "\(sleeps)")
    }

    @Test
    func backoffIsCappedAtTheVariantsMaxDelay() async throws {
        let local = ScriptedSpeechToText(
            "local", log: self.log, script: Array(repeating: .fail(Routes.http(500)), count: 6))
        let chain = self.chain(
            candidates: [
                (Routes.variant("v", retries: 6, maxDelay: .seconds(3), Routes.provider(local, model: "m")), 1)
            ],
            failures: 100)

        _ = try await chain.transcribe(Routes.request)

        #expect(self.clock.sleeps.count == 6)
        #expect(self.clock.sleeps.allSatisfy { $0 <= .seconds(3) })
        #expect(self.clock.sleeps.last! >= .seconds(1.5))
    }

    @Test
    func tensorZeroOrderIsRetriesOfTheVariantAcrossItsRoutingThenTheFallback() async throws {
        let first = ScriptedSpeechToText(
            "a1", log: self.log, script: [.fail(Routes.http(500)), .fail(Routes.http(500))])
        let second = ScriptedSpeechToText(
            "a2", log: self.log, script: [.fail(Routes.http(502)), .fail(Routes.http(502))])
        let cloud = ScriptedSpeechToText("cloud", log: self.log, script: [])
        let chain = self.chain(
            candidates: [
                (
                    Routes.variant(
                        "local", retries: 1, Routes.provider(first, model: "m"), Routes.provider(second, model: "m")), 1
                )
            ],
            fallbacks: [Routes.variant("cloud", Routes.provider(cloud, model: "whisper-1"))])

        let result = try await chain.transcribe(Routes.request)

        #expect(self.log.calls == ["a1", "a2", "a1", "a2", "cloud"])
        #expect(result.servedBy?.variant == "cloud")
        #expect(result.attempts.count == 5)
    }

    @Test
    func authorizationFailuresMoveOnAtOnceAndAreNotRetried() async throws {
        let local = ScriptedSpeechToText("local", log: self.log, script: [.fail(Routes.http(401))])
        let backup = ScriptedSpeechToText("backup", log: self.log, script: [.fail(Routes.http(503))])
        let chain = self.chain(candidates: [
            (
                Routes.variant(
                    "v", retries: 2, Routes.provider(local, model: "m"), Routes.provider(backup, model: "m")), 1
            )
        ])

        let result = try await chain.transcribe(Routes.request)

        #expect(self.log.calls == ["local", "backup", "backup"])
        #expect(result.servedBy?.provider == "backup")
    }

    @Test
    func retryAfterIsHonouredBeforeTheNextRound() async throws {
        let local = ScriptedSpeechToText(
            "local", log: self.log, script: [.fail(Routes.http(429, retryAfter: .seconds(7)))])
        let chain = self.chain(candidates: [(Routes.variant("v", retries: 1, Routes.provider(local, model: "m")), 1)])

        _ = try await chain.transcribe(Routes.request)

        #expect(self.clock.sleeps == [.seconds(7)])
        #expect(self.log.calls == ["local", "local"])
    }

    @Test
    func aRetryAfterLongerThanTheLimitSkipsTheProviderForThisRequest() async throws {
        let local = ScriptedSpeechToText(
            "local", log: self.log, script: [.fail(Routes.http(429, retryAfter: .seconds(3600)))])
        let cloud = ScriptedSpeechToText("cloud", log: self.log, script: [])
        let chain = self.chain(
            candidates: [(Routes.variant("v", retries: 3, Routes.provider(local, model: "m")), 1)],
            fallbacks: [Routes.variant("c", Routes.provider(cloud, model: "c"))])

        let result = try await chain.transcribe(Routes.request)

        #expect(self.log.calls == ["local", "cloud"])
        #expect(self.clock.sleeps.isEmpty)
        #expect(result.servedBy?.provider == "cloud")
    }

    @Test
    func quotaErrorsAreNotRetried() async throws {
        let cloud = ScriptedSpeechToText(
            "cloud", log: self.log, script: [.fail(Routes.http(429, code: "insufficient_quota"))])
        let chain = self.chain(candidates: [(Routes.variant("v", retries: 3, Routes.provider(cloud, model: "m")), 1)])

        let error = await #expect(throws: GatewayError.self) { try await chain.transcribe(Routes.request) }

        #expect(self.log.calls == ["cloud"])
        #expect(error?.reason == .exhausted)
    }

    @Test
    func badInputStopsTheChainWithTheProvidersMessage() async throws {
        let local = ScriptedSpeechToText(
            "local", log: self.log,
            script: [.fail(ProviderFailure(.badInput, status: 400, message: "could not decode audio: bad header"))])
        let cloud = ScriptedSpeechToText("cloud", log: self.log, script: [])
        let chain = self.chain(
            candidates: [(Routes.variant("v", retries: 2, Routes.provider(local, model: "m")), 1)],
            fallbacks: [Routes.variant("c", Routes.provider(cloud, model: "c"))])

        let error = await #expect(throws: GatewayError.self) { try await chain.transcribe(Routes.request) }

        #expect(self.log.calls == ["local"])
        #expect(error?.reason == .rejected("could not decode audio: bad header"))
        #expect(error?.isPermanent == true)
    }

    @Test
    func whenEverythingFailsTheErrorListsEveryAttempt() async throws {
        let local = ScriptedSpeechToText(
            "local", log: self.log, script: [.fail(ProviderFailure(.connection, message: "refused"))])
        let chain = self.chain(
            candidates: [(Routes.variant("v", Routes.provider(local, model: "m")), 1)],
            fallbacks: [
                Routes.variant(
                    "cloud",
                    Routes.provider(nil, model: "openai_whisper", skip: "no API key: OPENAI_API_KEY is not set"))
            ])

        let error = await #expect(throws: GatewayError.self) { try await chain.transcribe(Routes.request) }

        #expect(error?.attempts.map(\.outcome) == [.failed, .skipped])
        #expect(error?.description.contains("refused") == true)
        #expect(error?.description.contains("OPENAI_API_KEY is not set") == true)
    }

    @Test
    func aFunctionWithOnlySkippedProvidersSaysSo() async throws {
        let chain = self.chain(candidates: [(Routes.variant("v", Routes.provider(nil, model: "m", skip: "no key")), 1)])

        let error = await #expect(throws: GatewayError.self) { try await chain.transcribe(Routes.request) }

        #expect(error?.reason == .noProviders)
    }

    @Test
    func theCircuitOpensAfterConsecutiveFailuresAndHalfOpensAfterTheCoolDown() async throws {
        let local = ScriptedSpeechToText(
            "local", log: self.log, script: Array(repeating: .fail(Routes.http(503)), count: 3))
        let cloud = ScriptedSpeechToText("cloud", log: self.log, script: [])
        let chain = self.chain(
            candidates: [(Routes.variant("v", Routes.provider(local, model: "m")), 1)],
            fallbacks: [Routes.variant("c", Routes.provider(cloud, model: "c"))], failures: 3)

        for _ in 0..<3 {
            _ = try await chain.transcribe(Routes.request)
        }
        #expect(local.calls == 3)
        let skipped = try await chain.transcribe(Routes.request)
        #expect(local.calls == 3, "the open circuit skips the provider")
        #expect(skipped.attempts.first?.error == "circuit open after repeated failures")

        self.clock.advance(by: .seconds(31))
        let trial = try await chain.transcribe(Routes.request)
        #expect(local.calls == 4, "after the cool-down one trial request goes through")
        #expect(trial.servedBy?.provider == "local")
        _ = try await chain.transcribe(Routes.request)
        #expect(local.calls == 5, "the successful trial closed the circuit")
    }

    @Test
    func candidatesAreDrawnByWeightWithoutReplacementThenFallbacks() async throws {
        var firstChoice: [String: Int] = [:]
        for seed in 0..<400 {
            let log = CallLog()
            let heavy = ScriptedSpeechToText("heavy", log: log, script: [.fail(Routes.http(500))])
            let light = ScriptedSpeechToText("light", log: log, script: [.fail(Routes.http(500))])
            let last = ScriptedSpeechToText("fallback", log: log, script: [])
            let chain = self.chain(
                candidates: [
                    (Routes.variant("heavy", Routes.provider(heavy, model: "h")), 3),
                    (Routes.variant("light", Routes.provider(light, model: "l")), 1),
                ],
                fallbacks: [Routes.variant("fallback", Routes.provider(last, model: "f"))], seed: UInt64(seed))

            _ = try await chain.transcribe(Routes.request)

            #expect(Set(log.calls.prefix(2)) == ["heavy", "light"], "each candidate once, before the fallback")
            #expect(log.calls.last == "fallback")
            firstChoice[log.calls[0], default: 0] += 1
        }
        let share = Double(firstChoice["heavy"] ?? 0) / 400
        #expect(
            (0.65...0.85).contains(share), "a 3:1 weight puts the heavy variant first about 75 % of the time: \(share)")
    }

    @Test
    func extraVariantsGoWhereTheirPositionSays() async throws {
        func names(_ position: String) -> [String] {
            let route = FunctionRoute<any SpeechToText>(
                function: "f", candidates: [(Routes.variant("a"), 1)],
                fallbacks: [Routes.variant("b"), Routes.variant("c")],
                extras: [(Routes.variant("x"), position)])
            return route.ordered(using: RandomSource(seed: 1)).map(\.name)
        }

        #expect(names("first") == ["x", "a", "b", "c"])
        #expect(names("last") == ["a", "b", "c", "x"])
        #expect(names("before:c") == ["a", "b", "x", "c"])
        #expect(names("after:a") == ["a", "x", "b", "c"])
    }

    @Test
    func cancellationStopsTheChainDuringBackoff() async throws {
        // A 30 s Retry-After keeps the chain waiting on the real clock until the test cancels it.
        let local = ScriptedSpeechToText(
            "local", log: self.log, script: [.fail(Routes.http(503, retryAfter: .seconds(30)))])
        let realClockChain = FallbackChain(
            route: FunctionRoute(
                function: "f",
                candidates: [
                    (Routes.variant("v", retries: 3, maxDelay: .seconds(60), Routes.provider(local, model: "m")), 1)
                ],
                fallbacks: []),
            breaker: CircuitBreaker(failureThreshold: 5, coolDown: .seconds(1), clock: SystemClock()),
            clock: SystemClock(), random: RandomSource(seed: 1))

        let task = Task { try await realClockChain.transcribe(Routes.request) }
        while local.calls == 0 {
            await Task.yield()
        }
        task.cancel()

        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(local.calls == 1)
    }
}

/// A client that fails with an error of the caller's choosing, not a ``ProviderFailure``.
struct ThrowingSpeechToText: SpeechToText {
    let error: any Error & Sendable
    let log: CallLog

    func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
        self.log.append("throwing")
        throw self.error
    }
}

struct FallbackChainLocalFailureTests {
    @Test
    func aLocalErrorInAClientMovesToTheNextProviderAndIsRecorded() async throws {
        let log = CallLog()
        let broken = ThrowingSpeechToText(
            error: MediaError(.unsupportedCodec, input: "<memory mp3>", reason: "no encoder"), log: log)
        let cloud = ScriptedSpeechToText("cloud", log: log, script: [])
        let clock = ManualClock()
        let chain = FallbackChain<any SpeechToText>(
            route: FunctionRoute(
                function: "f",
                candidates: [
                    (
                        RouteVariant(
                            name: "v", retries: RetrySettings(numRetries: 2), timeout: nil,
                            providers: [
                                RouteProvider(model: "m", name: "local", client: broken)
                            ]), 1
                    )
                ],
                fallbacks: [Routes.variant("c", Routes.provider(cloud, model: "c"))]),
            breaker: CircuitBreaker(failureThreshold: 5, coolDown: .seconds(30), clock: clock), clock: clock,
            random: RandomSource(seed: 1))

        let result = try await chain.transcribe(Routes.request)

        #expect(log.calls == ["throwing", "cloud"])
        #expect(result.attempts.first?.outcome == .failed)
        #expect(result.attempts.first?.error?.contains("no encoder") == true)
    }

    @Test
    func aHalfOpenTrialThatIsCancelledDoesNotKeepTheCircuitShut() async throws {
        let clock = ManualClock()
        let breaker = CircuitBreaker(failureThreshold: 1, coolDown: .seconds(30), clock: clock)
        breaker.recordFailure("m/local")
        clock.advance(by: .seconds(31))
        let log = CallLog()
        let cancelled = FallbackChain<any SpeechToText>(
            route: FunctionRoute(
                function: "f",
                candidates: [
                    (
                        RouteVariant(
                            name: "v", retries: RetrySettings(), timeout: nil,
                            providers: [
                                RouteProvider(
                                    model: "m", name: "local",
                                    client: ThrowingSpeechToText(error: CancellationError(), log: log))
                            ]), 1
                    )
                ], fallbacks: []),
            breaker: breaker, clock: clock, random: RandomSource(seed: 1))

        await #expect(throws: CancellationError.self) { try await cancelled.transcribe(Routes.request) }

        #expect(breaker.state(of: "m/local") != .halfOpen)
        #expect(breaker.admit("m/local"), "the next request may try the provider again")
    }
}
