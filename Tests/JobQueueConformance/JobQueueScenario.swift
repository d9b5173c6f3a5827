import Foundation
import PipelineCore
import Testing

/// The behaviour every job backend (``WorkQueue`` plus ``JobLedger``) must show, one scenario per case, grouped by
/// the capability each needs.
///
/// A test target runs them with `@Test(arguments: JobQueueScenario.cases(for: capabilities))` and its own
/// ``MakeJobBackend``.
package enum JobQueueScenario: String, CaseIterable, Sendable, CustomTestStringConvertible {
    // Core: every backend.
    case enqueueCreatesAQueuedJob
    case enqueueIsIdempotentByKey
    case leaseHoldsTheJobAndCountsTheAttempt
    case leaseWaitsForWorkAndWakesWhenItArrives
    case settlingWithAForeignOrSettledLeaseThrowsLeaseLost
    case successStoresOutputsResultAndProgressAndDropsCheckpoints
    case retrySettlementRunsAgainAfterItsDelay
    case deadSettlementStopsTheJob
    case cancellingAQueuedOrFailedJobStopsItAtOnce
    case cancellingARunningJobAsksItsWorkerToStop
    case cancellingAFinishedJobChangesNothing
    case aFailureAfterACancelRequestCancelsTheJob
    case releasingAJobAskedToCancelCancelsIt
    case retryRequeuesAStoppedJobKeepingItsCheckpoints
    case retryRefusesActiveAndSucceededJobs
    case checkpointsReplaceByKey
    case listingIsNewestFirstFilteredAndLimited
    case pendingWorkCountsQueuedRunningAndTheNextRetry
    // Priority order.
    case leaseTakesTheHighestPriorityThenTheOldest
    case jobsEnqueuedAtTheSameInstantLeaseInEnqueueOrder
    case dueRetriesAndExpiredLeasesCompeteWithQueuedJobsByPriorityAndAge
    // Time, moved by the test.
    case anExpiredLeaseIsLeasedAgainWithTheAttemptCounted
    case heartbeatExtendsTheLeaseAndRecordsProgress
    case aLapsedLeaseWorksUntilAnotherWorkerTakesTheJob
    case anExpiredLeaseOnTheLastAttemptIsDead
    case anExpiredLeaseOfAJobAskedToCancelIsCancelled
    // Uncounted release.
    case releaseReturnsTheJobWithoutCountingTheAttempt

    package var testDescription: String { self.rawValue }

    /// What the scenario needs beyond the core.
    package var requirements: Set<QueueCapability> {
        switch self {
        case .leaseTakesTheHighestPriorityThenTheOldest, .jobsEnqueuedAtTheSameInstantLeaseInEnqueueOrder:
            [.priorityOrder]
        case .dueRetriesAndExpiredLeasesCompeteWithQueuedJobsByPriorityAndAge:
            [.priorityOrder, .injectedClock]
        case .anExpiredLeaseIsLeasedAgainWithTheAttemptCounted, .anExpiredLeaseOnTheLastAttemptIsDead:
            [.deliveryCounting, .injectedClock]
        case .heartbeatExtendsTheLeaseAndRecordsProgress, .aLapsedLeaseWorksUntilAnotherWorkerTakesTheJob,
            .anExpiredLeaseOfAJobAskedToCancelIsCancelled:
            [.injectedClock]
        case .releaseReturnsTheJobWithoutCountingTheAttempt:
            [.uncountedRelease, .injectedClock]
        case .retrySettlementRunsAgainAfterItsDelay, .retryRequeuesAStoppedJobKeepingItsCheckpoints,
            .pendingWorkCountsQueuedRunningAndTheNextRetry, .cancellingAQueuedOrFailedJobStopsItAtOnce,
            .deadSettlementStopsTheJob, .aFailureAfterACancelRequestCancelsTheJob, .enqueueCreatesAQueuedJob,
            .enqueueIsIdempotentByKey, .leaseHoldsTheJobAndCountsTheAttempt, .listingIsNewestFirstFilteredAndLimited,
            .cancellingAFinishedJobChangesNothing:
            // These read or move the clock to check times exactly.
            [.injectedClock]
        case .leaseWaitsForWorkAndWakesWhenItArrives, .settlingWithAForeignOrSettledLeaseThrowsLeaseLost,
            .successStoresOutputsResultAndProgressAndDropsCheckpoints, .cancellingARunningJobAsksItsWorkerToStop,
            .releasingAJobAskedToCancelCancelsIt, .retryRefusesActiveAndSucceededJobs, .checkpointsReplaceByKey:
            []
        }
    }

    /// The scenarios a backend with `capabilities` runs.
    package static func cases(for capabilities: Set<QueueCapability>) -> [JobQueueScenario] {
        self.allCases.filter { $0.requirements.isSubset(of: capabilities) }
    }

    /// Runs the scenario on a fresh backend from `make`.
    package func run(_ make: MakeJobBackend) async throws {
        let context = try JobQueueContext()
        defer { try? FileManager.default.removeItem(at: context.directory) }
        let backend = try await make(context)
        let steps = Steps(queue: backend.queue, ledger: backend.ledger, clock: context.clock)
        switch self {
        case .enqueueCreatesAQueuedJob: try await steps.enqueueCreatesAQueuedJob()
        case .enqueueIsIdempotentByKey: try await steps.enqueueIsIdempotentByKey()
        case .leaseHoldsTheJobAndCountsTheAttempt: try await steps.leaseHoldsTheJobAndCountsTheAttempt()
        case .leaseWaitsForWorkAndWakesWhenItArrives: try await steps.leaseWaitsForWorkAndWakesWhenItArrives()
        case .settlingWithAForeignOrSettledLeaseThrowsLeaseLost:
            try await steps.settlingWithAForeignOrSettledLeaseThrowsLeaseLost()
        case .successStoresOutputsResultAndProgressAndDropsCheckpoints:
            try await steps.successStoresOutputsResultAndProgressAndDropsCheckpoints()
        case .retrySettlementRunsAgainAfterItsDelay: try await steps.retrySettlementRunsAgainAfterItsDelay()
        case .deadSettlementStopsTheJob: try await steps.deadSettlementStopsTheJob()
        case .cancellingAQueuedOrFailedJobStopsItAtOnce: try await steps.cancellingAQueuedOrFailedJobStopsItAtOnce()
        case .cancellingARunningJobAsksItsWorkerToStop: try await steps.cancellingARunningJobAsksItsWorkerToStop()
        case .cancellingAFinishedJobChangesNothing: try await steps.cancellingAFinishedJobChangesNothing()
        case .aFailureAfterACancelRequestCancelsTheJob: try await steps.aFailureAfterACancelRequestCancelsTheJob()
        case .releasingAJobAskedToCancelCancelsIt: try await steps.releasingAJobAskedToCancelCancelsIt()
        case .retryRequeuesAStoppedJobKeepingItsCheckpoints:
            try await steps.retryRequeuesAStoppedJobKeepingItsCheckpoints()
        case .retryRefusesActiveAndSucceededJobs: try await steps.retryRefusesActiveAndSucceededJobs()
        case .checkpointsReplaceByKey: try await steps.checkpointsReplaceByKey()
        case .listingIsNewestFirstFilteredAndLimited: try await steps.listingIsNewestFirstFilteredAndLimited()
        case .pendingWorkCountsQueuedRunningAndTheNextRetry:
            try await steps.pendingWorkCountsQueuedRunningAndTheNextRetry()
        case .leaseTakesTheHighestPriorityThenTheOldest: try await steps.leaseTakesTheHighestPriorityThenTheOldest()
        case .jobsEnqueuedAtTheSameInstantLeaseInEnqueueOrder:
            try await steps.jobsEnqueuedAtTheSameInstantLeaseInEnqueueOrder()
        case .dueRetriesAndExpiredLeasesCompeteWithQueuedJobsByPriorityAndAge:
            try await steps.dueRetriesAndExpiredLeasesCompeteWithQueuedJobsByPriorityAndAge()
        case .anExpiredLeaseIsLeasedAgainWithTheAttemptCounted:
            try await steps.anExpiredLeaseIsLeasedAgainWithTheAttemptCounted()
        case .heartbeatExtendsTheLeaseAndRecordsProgress: try await steps.heartbeatExtendsTheLeaseAndRecordsProgress()
        case .aLapsedLeaseWorksUntilAnotherWorkerTakesTheJob:
            try await steps.aLapsedLeaseWorksUntilAnotherWorkerTakesTheJob()
        case .anExpiredLeaseOnTheLastAttemptIsDead: try await steps.anExpiredLeaseOnTheLastAttemptIsDead()
        case .anExpiredLeaseOfAJobAskedToCancelIsCancelled:
            try await steps.anExpiredLeaseOfAJobAskedToCancelIsCancelled()
        case .releaseReturnsTheJobWithoutCountingTheAttempt:
            try await steps.releaseReturnsTheJobWithoutCountingTheAttempt()
        }
    }
}
