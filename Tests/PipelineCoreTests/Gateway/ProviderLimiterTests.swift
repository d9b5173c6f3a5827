import PipelineCore
import Synchronization
import Testing

struct ProviderLimiterTests {
    let clock = ManualClock()

    /// Yields until `condition` holds (other tasks reaching their waits), or fails after many tries.
    private func eventually(_ condition: () -> Bool) async {
        for _ in 0..<10_000 where !condition() {
            await Task.yield()
        }
        #expect(condition())
    }

    @Test
    func aCeilingOfOneQueuesRequestsFirstComeFirstServed() async throws {
        let limiter = ProviderLimiter()
        let order = CallLog()
        #expect(try await limiter.acquire("p", ceiling: 1, clock: self.clock) == .zero)
        let second = Task {
            _ = try await limiter.acquire("p", ceiling: 1, clock: self.clock)
            order.append("second")
        }
        await self.eventually { limiter.snapshot["p"]?.waiting == 1 }
        let third = Task {
            _ = try await limiter.acquire("p", ceiling: 1, clock: self.clock)
            order.append("third")
        }
        await self.eventually { limiter.snapshot["p"]?.waiting == 2 }
        #expect(limiter.snapshot["p"]?.inFlight == 1)

        limiter.release("p", .success(latency: .seconds(1), work: 10))
        try await second.value
        #expect(order.calls == ["second"])
        #expect(limiter.snapshot["p"].map { [$0.ceiling, Int($0.limit), $0.inFlight, $0.waiting] } == [1, 1, 1, 1])
        limiter.release("p", .success(latency: .seconds(1), work: 10))
        try await third.value
        limiter.release("p", .neutral)
        #expect(order.calls == ["second", "third"])
        #expect(limiter.snapshot["p"]?.inFlight == 0)
    }

    @Test
    func overloadHalvesTheLimitAndSuccessesRaiseItBackToTheCeiling() async throws {
        let limiter = ProviderLimiter()
        var limits: [Double] = []
        for _ in 0..<4 {
            _ = try await limiter.acquire("cloud", ceiling: 8, clock: self.clock)
            limiter.release("cloud", .overload)
            limits.append(limiter.snapshot["cloud"]!.limit)
        }
        #expect(limits == [4, 2, 1, 1])

        // Additive increase: about one more slot per round of `limit` successes.
        var successes = 0
        while limiter.snapshot["cloud"]!.limit < 8, successes < 100 {
            _ = try await limiter.acquire("cloud", ceiling: 8, clock: self.clock)
            limiter.release("cloud", .success(latency: .milliseconds(200), work: 1))
            successes += 1
        }
        #expect(limiter.snapshot["cloud"]!.limit == 8)
        #expect((20...40).contains(successes), "took \(successes) successes")

        // Failures that say nothing about load (bad input, auth) leave it.
        _ = try await limiter.acquire("cloud", ceiling: 8, clock: self.clock)
        limiter.release("cloud", .neutral)
        #expect(limiter.snapshot["cloud"]!.limit == 8)
    }

    @Test
    func aSlowAnswerLowersTheLimitOnlyWhenOthersWereInFlight() async throws {
        let limiter = ProviderLimiter()
        for _ in 0..<3 {
            _ = try await limiter.acquire("local", ceiling: 4, clock: self.clock)
        }
        // 0.1 s per second of audio is the usual; 0.5 s per second while two others ran is queueing at the server.
        limiter.release("local", .success(latency: .seconds(1), work: 10))
        #expect(limiter.snapshot["local"]!.limit == 4)
        limiter.release("local", .success(latency: .seconds(5), work: 10))
        let lowered = limiter.snapshot["local"]!.limit
        #expect(lowered < 4)
        // Alone, a slow answer is the request's own size or the server's pace, not queueing.
        limiter.release("local", .success(latency: .seconds(5), work: 10))
        #expect(limiter.snapshot["local"]!.limit >= lowered)
        // The limit holds new requests: three at once now leave one waiting.
        #expect(limiter.snapshot["local"].map { Int($0.limit) } == 3)
        for _ in 0..<3 {
            _ = try await limiter.acquire("local", ceiling: 4, clock: self.clock)
        }
        let fourth = Task { try await limiter.acquire("local", ceiling: 4, clock: self.clock) }
        await self.eventually { limiter.snapshot["local"]?.waiting == 1 }
        limiter.release("local", .neutral)
        _ = try await fourth.value
        #expect(limiter.snapshot["local"]?.inFlight == 3)
    }

    @Test
    func aWaiterThatIsCancelledHoldsNoSlot() async throws {
        let limiter = ProviderLimiter()
        _ = try await limiter.acquire("p", ceiling: 1, clock: self.clock)
        let waiter = Task { try await limiter.acquire("p", ceiling: 1, clock: self.clock) }
        await self.eventually { limiter.snapshot["p"]?.waiting == 1 }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(limiter.snapshot["p"]?.waiting == 0)
        limiter.release("p", .neutral)
        #expect(limiter.snapshot["p"]?.inFlight == 0)
        #expect(try await limiter.acquire("p", ceiling: 1, clock: self.clock) == .zero)
    }

    /// A provider whose every request waits for the test's go, then takes `takes` on the manual clock.
    final class GatedSpeechToText: SpeechToText {
        let clock: ManualClock
        let takes: Duration
        let go = AsyncChannel<Void>()
        private let count = Mutex(0)

        init(clock: ManualClock, takes: Duration) {
            self.clock = clock
            self.takes = takes
        }

        var calls: Int { self.count.withLock { $0 } }

        func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
            self.count.withLock { $0 += 1 }
            _ = await self.go.receive()
            self.clock.advance(by: self.takes)
            return TranscriptionResult(
                transcript: Transcript(
                    text: "local", segments: [TranscriptSegment(id: 0, start: 0, end: 1, text: "local")]),
                bytesSent: 1)
        }
    }

    @Test
    func aProviderWhoseCircuitIsOpenIsSkippedWithoutQueueingForItsSlot() async throws {
        let local = ScriptedSpeechToText("local", log: CallLog(), script: [])
        let cloud = ScriptedSpeechToText("cloud", log: CallLog(), script: [])
        let limiter = ProviderLimiter()
        let breaker = CircuitBreaker(failureThreshold: 1, coolDown: .seconds(30), clock: self.clock)
        breaker.recordFailure("small/local")
        // Another request holds the local provider's only slot, and keeps it.
        _ = try await limiter.acquire("small/local", ceiling: 1, clock: self.clock)
        let chain = FallbackChain(
            route: FunctionRoute(
                function: "pmoves_yt_transcription",
                candidates: [
                    (Routes.variant("whisper_local", Routes.provider(local, model: "small", maxConcurrency: 1)), 1)
                ],
                fallbacks: [Routes.variant("whisper_cloud", Routes.provider(cloud, model: "openai"))]),
            breaker: breaker, limiter: limiter, clock: self.clock, random: RandomSource(seed: 1))

        let result = try await chain.transcribe(Routes.request)

        #expect(result.servedBy?.provider == "cloud")
        #expect(result.attempts.map(\.outcome) == [.skipped, .ok])
        #expect(local.calls == 0)
        #expect(limiter.snapshot["small/local"]?.waiting == 0)
    }

    @Test
    func aBusyLocalProviderIsQueuedForNotTimedOutAndSpilledToTheCloud() async throws {
        let local = GatedSpeechToText(clock: self.clock, takes: .milliseconds(800))
        let cloud = ScriptedSpeechToText("cloud", log: CallLog(), script: [])
        let limiter = ProviderLimiter()
        // The local variant has 1 s; three requests at once take 0.8 s each, one at a time.
        let chain = FallbackChain(
            route: FunctionRoute(
                function: "pmoves_yt_transcription",
                candidates: [
                    (
                        RouteVariant(
                            name: "whisper_local", retries: RetrySettings(numRetries: 0, maxDelay: .seconds(1)),
                            timeout: .seconds(1),
                            providers: [Routes.provider(local, named: "local", model: "small", maxConcurrency: 1)]),
                        1
                    )
                ],
                fallbacks: [Routes.variant("whisper_cloud", Routes.provider(cloud, model: "openai"))]),
            breaker: CircuitBreaker(failureThreshold: 5, coolDown: .seconds(30), clock: self.clock), limiter: limiter,
            clock: self.clock, random: RandomSource(seed: 1))

        let requests = (0..<3).map { _ in Task { try await chain.transcribe(Routes.request) } }
        await self.eventually { limiter.snapshot["small/local"]?.waiting == 2 }
        for _ in 0..<3 {
            local.go.send(())
        }
        var waits: [Int] = []
        for request in requests {
            let result = try await request.value
            #expect(result.servedBy?.provider == "local")
            #expect(result.attempts.count == 1)
            waits.append(result.attempts[0].waitMilliseconds ?? 0)
        }
        #expect(cloud.calls == 0)
        #expect(local.calls == 3)
        #expect(waits.sorted() == [0, 800, 1600])
    }
}
