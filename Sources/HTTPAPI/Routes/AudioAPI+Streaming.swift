import Foundation
import PipelineCore
import Synchronization

extension AudioAPI {
    /// `POST /v1/audio/transcriptions` with `stream=true`: Server-Sent Events in OpenAI's shape, one
    /// `transcript.text.delta` per chunk in chunk order as chunks finish, then `transcript.text.done` with the
    /// stitched text. A failure after the stream began is an `error` event.
    func streamTranscription(_ spec: TranscriptionJobSpec) throws -> HTTPServerResponse {
        let control = self.dependencies.control
        let timeout = self.settings.syncTimeout
        return HTTPServerResponse(
            status: 200,
            headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
            body: .writer { writer in
                let deltas = ChunkOrder()
                let request = EnqueueRequest(payload: .transcription(spec), origin: .network)
                let job: Job
                do {
                    job = try await self.waitingSlot {
                        try await control.submitAndWait(request, timeout: timeout) { event in
                            guard let chunk = event.chunk else { return }
                            for text in deltas.add(chunk) where !text.isEmpty {
                                try? await writer.write(
                                    ServerSentEvent.data(
                                        .object(["type": .string("transcript.text.delta"), "delta": .string(text)])))
                            }
                        }
                    }
                    try self.checkFinished(job)
                } catch let error as APIError {
                    try await writer.write(ServerSentEvent.error(error))
                    return
                } catch let error as RequestError {
                    try await writer.write(ServerSentEvent.error(APIError.invalid(error)))
                    return
                }
                let document = try await self.storedTranscript(of: job, spec: spec)
                try await writer.write(
                    ServerSentEvent.data(
                        .object(["type": .string("transcript.text.done"), "text": document["text"] ?? .string("")])))
            })
    }

    /// `GET /v1/jobs/{id}/events`: the job's state now, then every change as it happens, ending after the final one.
    func jobEvents(_ id: String) async throws -> HTTPServerResponse {
        let ledger = self.dependencies.control.backend.ledger
        guard let current = try await ledger.job(id: id) else {
            throw APIError(404, "no job with id \(id)")
        }
        let events = self.dependencies.control.events
        return HTTPServerResponse(
            status: 200,
            headers: [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
            body: .writer { writer in
                let subscription = events.subscribe(jobID: id)
                defer { subscription.finish() }
                // Read again after subscribing: a change between the first read and the subscription is not lost.
                let now = try await ledger.job(id: id) ?? current
                try await writer.write(ServerSentEvent.job(now, event: "state"))
                guard now.status.isActive else { return }
                for await event in subscription.events {
                    try await writer.write(
                        ServerSentEvent.job(event.job, event: event.kind.rawValue, chunk: event.chunk))
                    if event.isFinal {
                        return
                    }
                }
            })
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
