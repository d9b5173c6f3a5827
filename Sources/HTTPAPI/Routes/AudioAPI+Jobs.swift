import Foundation
import PipelineCore

extension AudioAPI {
    /// `POST /v1/jobs`: a transcription by storage key, a transcription of an upload (multipart with `file`), or a
    /// synthesis. Answers 202 with the job (200 when the idempotency key names an existing one).
    ///
    /// An upload is stored only for a request that passed its checks, and kept for its job (its outputs are what
    /// the caller asked for); when the idempotency key names an existing job, the new upload is removed again.
    func createJob(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let contentType = request.head.headers.first("Content-Type") ?? ""
        var submission: EnqueueRequest
        var upload: Upload?
        if let boundary = MultipartBody.boundary(fromContentType: contentType) {
            let form = try Self.form(request.body, boundary: boundary)
            guard let file = form.part("file") ?? form.part("audio") else {
                throw APIError(400, "a multipart job needs a 'file' to transcribe", parameter: "file")
            }
            let planned = try self.plannedUpload(file, from: form)
            var spec = self.spec(bucket: planned.bucket, key: planned.key)
            spec.formats = self.settings.jobDefaults.formats
            spec.language = try Self.nonEmpty(form.text("language"))
            spec.function = try Self.nonEmpty(form.text("function"))
            if let formats = try Self.nonEmpty(form.text("formats")) {
                spec.formats = formats.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            submission = try self.checked(
                EnqueueRequest(
                    payload: .transcription(spec), idempotencyKey: try Self.nonEmpty(form.text("idempotency_key")),
                    origin: .network))
            try await self.store(planned)
            upload = planned
        } else {
            let json = try self.jsonObject(request.body)
            do {
                submission = try JobSubmission.request(
                    from: .object(json), origin: .network, defaults: self.settings.jobDefaults)
            } catch {
                throw APIError.invalid(error)
            }
        }
        let (job, created): (Job, Bool)
        do {
            (job, created) = try await self.dependencies.control.submit(submission)
        } catch {
            if let upload, case .transcription(let spec) = submission.payload {
                await self.discard(upload, spec: spec)
            }
            throw (error as? RequestError).map { APIError.invalid($0) } ?? error
        }
        if !created, let upload {
            // The existing job has its own input; only the new upload goes (no outputs were written for it).
            try? await self.dependencies.storage.bucket(upload.bucket).delete(upload.key)
        }
        return .json(
            try JSONValue(encoding: job), status: created ? 202 : 200, headers: [("Location", "/v1/jobs/\(job.id)")])
    }

    /// `GET /v1/jobs?status=S&limit=N`: jobs, newest first.
    func listJobs(_ head: HTTPRequestHead) async throws -> HTTPServerResponse {
        var status: JobStatus?
        if let text = head.queryValue("status"), !text.isEmpty {
            guard let parsed = JobStatus(rawValue: text) else {
                throw APIError(
                    400, "status is one of \(JobStatus.allCases.map(\.rawValue).joined(separator: ", "))",
                    parameter: "status")
            }
            status = parsed
        }
        var limit = 100
        if let text = head.queryValue("limit") {
            guard let value = Int(text), (1...10_000).contains(value) else {
                throw APIError(400, "limit is 1 to 10000", parameter: "limit")
            }
            limit = value
        }
        let jobs = try await self.dependencies.control.backend.ledger.jobs(status: status, limit: limit)
        return .json(.object(["object": .string("list"), "data": try JSONValue(encoding: jobs)]))
    }

    /// `GET /v1/jobs/{id}`.
    func showJob(_ id: String) async throws -> HTTPServerResponse {
        guard let job = try await self.dependencies.control.backend.ledger.job(id: id) else {
            throw APIError(404, "no job with id \(id)")
        }
        return .json(try await self.dependencies.control.backend.ledger.view(of: job))
    }

    /// `DELETE /v1/jobs/{id}`: cancels it (a running job stops at its next heartbeat).
    func cancelJob(_ id: String) async throws -> HTTPServerResponse {
        do {
            return .json(try JSONValue(encoding: try await self.dependencies.control.cancel(id: id)))
        } catch JobQueueError.notFound {
            throw APIError(404, "no job with id \(id)")
        }
    }

    /// `POST /v1/jobs/{id}/retry`: a dead, failed or cancelled job back to the queue.
    func retryJob(_ id: String) async throws -> HTTPServerResponse {
        do {
            return .json(try JSONValue(encoding: try await self.dependencies.control.retry(id: id)))
        } catch JobQueueError.notFound {
            throw APIError(404, "no job with id \(id)")
        } catch let error as JobQueueError {
            throw APIError(409, error.description, code: "invalid_state")
        }
    }

    /// `GET /v1/models`: the audio functions, as OpenAI lists models.
    func models() -> HTTPServerResponse {
        let functions = self.dependencies.transcriptionFunctions + self.dependencies.speechFunctions
        let data = functions.flatMap { name -> [JSONValue] in
            [name, "tensorzero::function_name::" + name].map { id in
                .object([
                    "id": .string(id), "object": .string("model"), "created": .number(0),
                    "owned_by": .string("audio-worker"),
                ])
            }
        }
        return .json(.object(["object": .string("list"), "data": .array(data)]))
    }
}
