import Foundation
import PipelineCore
import Synchronization

extension AudioAPI {
    /// `POST /v1/audio/transcriptions` with `stream=true`: Server-Sent Events in OpenAI's shape, one
    /// `transcript.text.delta` per chunk in chunk order as chunks finish, then `transcript.text.done` with the
    /// stitched text. A failure after the stream began is an `error` event.
    ///
    /// The request is checked, the upload stored, a waiting slot taken and the job submitted before the answer's
    /// head goes out, so a bad request is an HTTP error, not an event. The upload and outputs are removed once the
    /// job has ended; the slot and subscription are given back when the server is done with the response.
    func streamTranscription(_ spec: TranscriptionJobSpec, upload: Upload) async throws -> HTTPServerResponse {
        let request = try self.checked(EnqueueRequest(payload: .transcription(spec), origin: .network))
        let slot = try self.takeWaitingSlot()
        let control = self.dependencies.control
        let job: Job
        let subscription: JobSubscription
        do {
            try await self.store(upload)
            do {
                (job, subscription) = try await control.submitFollowing(request)
            } catch {
                await self.discard(upload, spec: spec)
                throw (error as? RequestError).map { APIError.invalid($0) } ?? error
            }
        } catch {
            slot.release()
            throw error
        }
        let timeout = self.settings.syncTimeout
        return HTTPServerResponse(
            status: 200,
            headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache"), ("X-Job-Id", job.id)],
            body: .writer { writer in
                let deltas = ChunkOrder()
                let ended = try await control.wait(for: job.id, subscription: subscription, timeout: timeout) { event in
                    guard let chunk = event.chunk else { return }
                    for text in deltas.add(chunk) where !text.isEmpty {
                        try? await writer.write(
                            ServerSentEvent.data(
                                .object(["type": .string("transcript.text.delta"), "delta": .string(text)])))
                    }
                }
                do {
                    try self.checkFinished(ended)
                    let document = try await self.storedTranscript(of: ended, spec: spec)
                    await self.discard(upload, spec: spec)
                    try await writer.write(
                        ServerSentEvent.data(
                            .object([
                                "type": .string("transcript.text.done"), "text": document["text"] ?? .string(""),
                            ])))
                } catch let error as APIError {
                    if !ended.status.isActive {
                        await self.discard(upload, spec: spec)
                    }
                    try await writer.write(ServerSentEvent.error(error))
                }
            },
            onDone: {
                subscription.finish()
                slot.release()
            })
    }

    /// `GET /v1/jobs/{id}/events`: the job's state now, then every change as it happens, ending after the final one.
    ///
    /// Changes made in this process come as its events. A job run by another process (this node serves the API
    /// only, or shares its queue) is followed through the backend's change signal: each time the queue's store
    /// changes, the job is read again and a `state` event sent when it moved (named by its final status once it has
    /// ended, as the in-process event would be, whichever path sees the end first). A comment line every 15 s keeps
    /// proxies from closing a quiet stream; a client that left is noticed at the next write.
    func jobEvents(_ id: String) async throws -> HTTPServerResponse {
        let ledger = self.dependencies.control.backend.ledger
        guard let current = try await ledger.job(id: id) else {
            throw APIError(404, "no job with id \(id)")
        }
        let events = self.dependencies.control.events
        let changes = self.dependencies.control.backend.changes
        let subscription = events.subscribe(jobID: id)
        return HTTPServerResponse(
            status: 200,
            headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
            body: .writer { writer in
                // Read again after subscribing: a change between the first read and the subscription is not lost.
                let now = try await ledger.job(id: id) ?? current
                try await writer.write(ServerSentEvent.job(now, event: Self.eventName(stored: now)))
                guard now.status.isActive else { return }
                enum Item: Sendable {
                    case event(JobEvent)
                    case stored(Job)
                    case keepAlive
                }
                let (items, sink) = AsyncStream.makeStream(of: Item.self, bufferingPolicy: .bufferingNewest(256))
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await event in subscription.events {
                            sink.yield(.event(event))
                        }
                    }
                    if let changes {
                        group.addTask {
                            while !Task.isCancelled {
                                let seen = changes.generation
                                if let job = try await ledger.job(id: id) {
                                    sink.yield(.stored(job))
                                }
                                await changes.wait(after: seen, timeout: .seconds(60))
                            }
                        }
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await sleepCancellably(for: .seconds(15))
                            sink.yield(.keepAlive)
                        }
                    }
                    var last = (status: now.status, progress: now.progress, attempts: now.attempts)
                    loop: for await item in items {
                        switch item {
                        case .event(let event):
                            last = (event.job.status, event.job.progress, event.job.attempts)
                            try await writer.write(
                                ServerSentEvent.job(event.job, event: event.kind.rawValue, chunk: event.chunk))
                            if event.isFinal { break loop }
                        case .stored(let job):
                            guard (job.status, job.progress, job.attempts) != last else { continue }
                            last = (job.status, job.progress, job.attempts)
                            try await writer.write(ServerSentEvent.job(job, event: Self.eventName(stored: job)))
                            if !job.status.isActive { break loop }
                        case .keepAlive:
                            try await writer.write(Data(": keep-alive\n\n".utf8))
                        }
                    }
                    group.cancelAll()
                    sink.finish()
                }
            },
            onDone: { subscription.finish() })
    }

    /// The event name of a job as read from the ledger: `state` while it is active, its final status once it has
    /// ended, so the stream ends on `succeeded`, `dead` or `cancelled` whichever path saw the end first.
    static func eventName(stored job: Job) -> String {
        job.status.isActive ? "state" : job.status.rawValue
    }
}

/// Puts chunk texts back in chunk order: finished chunks arrive in completion order, deltas must not.
final class ChunkOrder: Sendable {
    private let state = Mutex<(next: Int, waiting: [Int: String])>((0, [:]))

    /// Records a finished chunk and returns the texts that are now next in order.
    func add(_ chunk: ChunkUpdate) -> [String] {
        self.state.withLock { state in
            state.waiting[chunk.index] = chunk.text
            var ready: [String] = []
            while let text = state.waiting.removeValue(forKey: state.next) {
                ready.append(state.next == 0 || text.isEmpty ? text : " " + text)
                state.next += 1
            }
            return ready
        }
    }
}

/// Server-Sent Events framing: `event:` and `data:` lines, a blank line after each event.
enum ServerSentEvent {
    /// An unnamed event carrying `value` as JSON.
    static func data(_ value: JSONValue) -> Data {
        let json = (try? JSONOutput.string(value)) ?? "{}"
        return Data("data: \(json)\n\n".utf8)
    }

    /// A named event carrying a job's record.
    static func job(_ job: Job, event: String, chunk: ChunkUpdate? = nil) -> Data {
        var record = (try? JSONValue(encoding: job)) ?? .null
        if let chunk, case .object(var members) = record {
            members["chunk"] = try? JSONValue(encoding: chunk)
            record = .object(members)
        }
        let json = (try? JSONOutput.string(record)) ?? "{}"
        return Data("event: \(event)\ndata: \(json)\n\n".utf8)
    }

    /// An `error` event in OpenAI's shape.
    static func error(_ error: APIError) -> Data {
        let body: JSONValue = .object([
            "type": .string("error"),
            "error": .object([
                "message": .string(error.message), "type": .string(error.type),
                "code": error.code.map(JSONValue.string) ?? .null,
            ]),
        ])
        let json = (try? JSONOutput.string(body)) ?? "{}"
        return Data("event: error\ndata: \(json)\n\n".utf8)
    }
}
