import Foundation

/// The way in for people and producers (the command line, the HTTP API, NATS): submit a job, cancel or retry it,
/// and wait for it to end. Every request is checked by ``JobRequests`` first, and every change is published on
/// ``JobEvents``, so in-process waiters learn of it without asking the database.
package struct JobControl: Sendable {
    /// The backend's two seams.
    package let backend: JobBackend
    /// The process's event hub.
    package let events: JobEvents
    /// The request rules.
    package let requests: JobRequests

    /// Creates the control over `backend`.
    package init(backend: JobBackend, events: JobEvents, requests: JobRequests) {
        self.backend = backend
        self.events = events
        self.requests = requests
    }

    /// Checks and enqueues `request`; a job that already exists for its idempotency key is returned as it is.
    ///
    /// - Throws: ``RequestError`` for a request that can never run, before anything is stored.
    package func submit(_ request: EnqueueRequest) async throws -> (job: Job, created: Bool) {
        let (job, created) = try await self.backend.queue.enqueue(try self.requests.validate(request))
        if created {
            self.events.publish(JobEvent(.queued, job: job))
        }
        return (job, created)
    }

    /// Submits `request` and waits until its job has ended (succeeded, dead or cancelled), or until `timeout`;
    /// returns the job as last seen. Progress events are handed to `onProgress` in order as they come.
    ///
    /// The job lives on if the wait ends first (the caller's client went away, or its time ran out).
    package func submitAndWait(
        _ request: EnqueueRequest, timeout: Duration,
        onProgress: @escaping @Sendable (JobEvent) async -> Void = { _ in }
    ) async throws -> Job {
        let (job, subscription) = try await self.submitFollowing(request)
        defer { subscription.finish() }
        return try await self.wait(for: job.id, subscription: subscription, timeout: timeout, onProgress: onProgress)
    }

    /// Submits `request` with a subscription to its job's events opened before the job exists, so none of them can
    /// slip past; hand the subscription to ``wait(for:subscription:timeout:onProgress:)`` later, and finish it.
    package func submitFollowing(_ request: EnqueueRequest) async throws -> (job: Job, subscription: JobSubscription) {
        let subscription = self.events.subscribe()
        let job: Job
        do {
            job = try await self.submit(request).job
        } catch {
            subscription.finish()
            throw error
        }
        subscription.follow(jobID: job.id)
        return (job, subscription)
    }

    /// Waits until job `id` has ended or `timeout` passes; see ``submitAndWait(_:timeout:onProgress:)``.
    ///
    /// With `orFirstFailure`, an attempt that failed (a retry scheduled) also ends the wait: a caller that cannot
    /// wait for the retry answers at once instead.
    package func waitForEnd(
        of id: String, timeout: Duration, orFirstFailure: Bool = false,
        onProgress: @escaping @Sendable (JobEvent) async -> Void = { _ in }
    ) async throws -> Job {
        let subscription = self.events.subscribe(jobID: id)
        defer { subscription.finish() }
        return try await self.wait(
            for: id, subscription: subscription, timeout: timeout, orFirstFailure: orFirstFailure,
            onProgress: onProgress)
    }

    /// Waits on `subscription` until job `id` has ended or `timeout` passes; returns the job as last seen.
    package func wait(
        for id: String, subscription: JobSubscription, timeout: Duration, orFirstFailure: Bool = false,
        onProgress: @escaping @Sendable (JobEvent) async -> Void = { _ in }
    ) async throws -> Job {
        func ends(_ status: JobStatus) -> Bool { !status.isActive || (orFirstFailure && status == .failed) }
        // The job may have ended before the subscription began (an idempotent resubmission of a finished job).
        guard let current = try await self.backend.ledger.job(id: id) else { throw JobQueueError.notFound(id) }
        if ends(current.status) {
            return current
        }
        return try await withThrowingTaskGroup(of: Job?.self) { group in
            group.addTask {
                for await event in subscription.events where event.job.id == id {
                    if event.kind == .progress {
                        await onProgress(event)
                    } else if event.isFinal || (orFirstFailure && event.kind == .failed) {
                        return event.job
                    }
                }
                return nil
            }
            group.addTask {
                try await sleepCancellably(for: timeout)
                return nil
            }
            if let changes = self.backend.changes {
                // Another process may run the job (an API-only node): its writes wake this, and the ledger says.
                group.addTask {
                    while !Task.isCancelled {
                        let seen = changes.generation
                        if let job = try await self.backend.ledger.job(id: id), ends(job.status) {
                            return job
                        }
                        await changes.wait(after: seen, timeout: .seconds(60))
                    }
                    return nil
                }
            }
            // The first child to finish decides: a final job, or nil when the time ran out.
            let first = try await group.next() ?? nil
            group.cancelAll()
            subscription.finish()
            if let first {
                return first
            }
            return try await self.backend.ledger.job(id: id) ?? current
        }
    }

    /// Cancels job `id`; see ``JobLedger/cancel(id:)``.
    package func cancel(id: String) async throws -> Job {
        let job = try await self.backend.ledger.cancel(id: id)
        if job.status == .cancelled {
            self.events.publish(JobEvent(.cancelled, job: job))
        }
        return job
    }

    /// Retries job `id`; see ``JobLedger/retry(id:)``.
    package func retry(id: String) async throws -> Job {
        let job = try await self.backend.ledger.retry(id: id)
        self.events.publish(JobEvent(.queued, job: job))
        return job
    }
}
