import Foundation
import PipelineCore
import Synchronization
import Testing

/// A voice that answers, fails, or never answers, as told, counting the probes it gets.
final class ProbedVoice: TextToSpeech {
    enum Mode { case answer, fail, hang }
    private let state = Mutex<(mode: Mode, calls: Int)>((.answer, 0))

    var calls: Int { self.state.withLock { $0.calls } }

    func set(_ mode: Mode) { self.state.withLock { $0.mode = mode } }

    func synthesize(_ request: SpeechRequest) async throws -> SpeechResult {
        let mode = self.state.withLock { state -> Mode in
            state.calls += 1
            return state.mode
        }
        switch mode {
        case .answer: return SpeechResult(audio: Data([0, 0]), format: "pcm", pcmSampleRate: 24_000)
        case .fail: throw SpeechError.emptyText
        case .hang:
            try await Task.sleep(for: .seconds(60))
            throw CancellationError()
        }
    }
}

/// A clock the test moves by hand, so the answers' ages do not depend on how busy the machine is.
final class HandClock: Sendable {
    private let instant = Mutex(ContinuousClock.now)

    var now: ContinuousClock.Instant { self.instant.withLock { $0 } }

    func advance(_ duration: Duration) { self.instant.withLock { $0 += duration } }
}

struct SpeechProbeTests {
    let clock = HandClock()
    @Test
    func theCachedAnswerIsFalseUntilAProbeIsAnsweredThenTrue() async throws {
        let voice = ProbedVoice()
        let probe = SpeechProbe(synthesizer: voice, interval: .seconds(30), timeout: .seconds(5))

        #expect(probe.cachedReady() == false, "no probe has come back yet")
        _ = await probe.ready()
        await probe.settle()

        #expect(probe.cachedReady())
        #expect(await probe.ready())
        #expect(voice.calls == 1, "a fresh answer asks for no new probe")
    }

    @Test
    func aStaleAnswerAsksForOneNewProbeHoweverOftenItIsRead() async throws {
        let voice = ProbedVoice()
        let probe = SpeechProbe(
            synthesizer: voice, interval: .seconds(1), timeout: .seconds(5), now: { [clock] in clock.now })
        _ = await probe.ready()
        await probe.settle()
        voice.set(.fail)
        self.clock.advance(.milliseconds(1200))  // stale (over one interval), not gone (under three)

        for _ in 0..<50 {
            #expect(probe.cachedReady(), "the stale answer is still given while the new probe runs")
        }
        // The refresh runs in a task of its own: wait for it to reach the voice, then for its answer.
        let deadline = ContinuousClock.now + .seconds(10)
        while voice.calls < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        await probe.settle()

        #expect(voice.calls == 2)
        #expect(probe.cachedReady() == false, "the new probe failed")
    }

    @Test
    func anAnswerOlderThanThreeIntervalsCountsAsNone() async throws {
        let voice = ProbedVoice()
        let probe = SpeechProbe(
            synthesizer: voice, interval: .seconds(1), timeout: .seconds(30), now: { [clock] in clock.now })
        _ = await probe.ready()
        await probe.settle()
        voice.set(.hang)
        self.clock.advance(.milliseconds(1500))

        #expect(probe.cachedReady(), "stale but not yet three intervals old; a new probe starts, and hangs")
        // The hanging probe reaches the voice in a task of its own; then the answer ages past three intervals.
        let deadline = ContinuousClock.now + .seconds(10)
        while voice.calls < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
        }
        self.clock.advance(.milliseconds(2000))

        #expect(probe.cachedReady() == false, "a probe that hangs leaves no answer younger than three intervals")
        #expect(voice.calls == 2, "one probe hangs; no second one is started beside it")
    }
}
