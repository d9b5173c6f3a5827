import Foundation
import PipelineCore
import Testing

struct CancellableSleepTests {
    @Test
    func aSleepReturnsAfterItsDurationAndNotBefore() async throws {
        let clock = ContinuousClock()
        let start = clock.now
        try await sleepCancellably(for: .milliseconds(50))
        #expect(clock.now - start >= .milliseconds(50))
    }

    @Test(.timeLimit(.minutes(1)))
    func aCancelledSleepThrowsAtOnceAndLeavesNoTimer() async throws {
        let tally = SleepTimerTally()
        let clock = ContinuousClock()
        let start = clock.now
        try await SleepTimerTally.$current.withValue(tally) {
            // A thousand hour-long waits, each lost to something faster, as a lease's idle timeout loses to a write.
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<1000 {
                    group.addTask {
                        do {
                            try await sleepCancellably(for: .seconds(3600))
                            return false
                        } catch {
                            return error is CancellationError
                        }
                    }
                }
                // Every wait has armed its timer before any is cancelled.
                try await settle { tally.pending >= 1000 }
                #expect(tally.pending == 1000)
                group.cancelAll()
                var cancelled = 0
                for try await wasCancelled in group where wasCancelled {
                    cancelled += 1
                }
                #expect(cancelled == 1000)
            }
        }
        #expect(clock.now - start < .seconds(60))
        try await settle { tally.pending == 0 }
        #expect(tally.pending == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func aChangeSignalWaitWokenByAChangeLeavesNoTimer() async throws {
        let tally = SleepTimerTally()
        let signal = ChangeSignal()
        try await SleepTimerTally.$current.withValue(tally) {
            // What an idle lease does while the worker writes checkpoints: wait up to 30 s, woken by every write.
            for _ in 0..<200 {
                // The last round's timer is released a moment after its wait ends; this round's is counted alone.
                try await settle { tally.pending == 0 }
                let seen = signal.generation
                async let woken: Void = signal.wait(after: seen, timeout: .seconds(30))
                try await settle { tally.pending > 0 }
                #expect(tally.pending > 0, "the wait armed a timer")
                signal.notify()
                await woken
            }
        }
        try await settle { tally.pending == 0 }
        #expect(tally.pending == 0)
    }

    @Test(.timeLimit(.minutes(1)))
    func aTaskCancelledBeforeItSleepsDoesNotWait() async throws {
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await sleepCancellably(for: .seconds(3600))
        }
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    /// Waits up to 5 s for `condition` (Dispatch drops a cancelled timer's handler on its own queue, a moment later).
    private func settle(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() {
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
