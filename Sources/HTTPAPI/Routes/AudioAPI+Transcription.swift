import Foundation
import PipelineCore

extension AudioAPI {
    /// ffmpeg-whisper's `POST /transcribe` (JSON with `bucket` and `key`, or multipart with an `audio` file) and
    /// `POST /transcribe_file` (multipart): enqueue, wait, answer with every field pmoves-yt and flute read.
    ///
    /// An upload is stored for its job and removed, with the job's outputs, once the job has ended: like
    /// ffmpeg-whisper's file route, these requests leave nothing behind.
    func transcribe(_ request: HTTPServerRequest, fileRoute: Bool) async throws -> HTTPServerResponse {
        let contentType = request.head.headers.first("Content-Type") ?? ""
        var spec: TranscriptionJobSpec
        var upload: Upload?
        if let boundary = MultipartBody.boundary(fromContentType: contentType) {
            let form = try Self.form(request.body, boundary: boundary)
            guard let audio = form.part("audio") ?? form.part("file") else {
                throw APIError(400, "the form needs an 'audio' file")
            }
            let planned = try self.plannedUpload(audio, from: form)
            spec = self.spec(bucket: planned.bucket, key: planned.key)
            spec.ephemeral = true
            spec.language = try Self.nonEmpty(form.text("language"))
            spec.contextID = try Self.nonEmpty(form.text("context_id"))
            if let provider = try Self.nonEmpty(form.text("provider")) {
                try Self.checkProvider(provider)
            }
            upload = planned
        } else {
            guard !fileRoute else {
                throw APIError(422, "send multipart/form-data with an 'audio' file")
            }
            let body = try self.jsonObject(request.body)
            guard let bucket = try Self.string(body, "bucket"), !bucket.isEmpty,
                let key = try Self.string(body, "key"), !key.isEmpty
            else {
                throw APIError(400, "bucket and key required")
            }
            if let provider = try Self.string(body, "provider"), !provider.isEmpty {
                try Self.checkProvider(provider)
            }
            spec = self.spec(bucket: bucket, key: key)
            spec.language = try Self.nonEmpty(Self.string(body, "language"))
            spec.outAudioKey = try Self.nonEmpty(Self.string(body, "out_audio_key"))
            spec.videoID = try Self.nonEmpty(Self.string(body, "video_id"))
            spec.namespace = try Self.nonEmpty(Self.string(body, "namespace"))
            spec.contextID = try Self.nonEmpty(Self.string(body, "context_id"))
        }
        if spec.contextID == nil, let header = request.head.headers.first("x-context-id"), !header.isEmpty {
            spec.contextID = header
        }
        let finished = spec
        return try await self.transcription(spec, upload: upload) { job in
            var document = try await self.storedTranscript(of: job, spec: finished)
            if case .object(var members) = document {
                members["device"] = members["device"] ?? .null
                if upload != nil {
                    // ffmpeg-whisper's file route stores nothing: no object to point at.
                    members["audio_uri"] = nil
                    members["s3_uri"] = nil
                    members["forwarded"] = nil
                } else if case .object(let result)? = job.result {
                    members["forwarded"] = result["forwarded"] ?? .null
                } else {
                    members["forwarded"] = .null
                }
                members["job_id"] = .string(job.id)
                document = .object(members)
            }
            return .json(document)
        }
    }

    /// OpenAI's `POST /v1/audio/transcriptions`, multipart, in every `response_format`, or as Server-Sent Events
    /// with `stream=true`. The upload and the job's outputs are removed once the job has ended.
    func openAITranscription(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        guard let boundary = MultipartBody.boundary(fromContentType: request.head.headers.first("Content-Type") ?? "")
        else {
            throw APIError(400, "send multipart/form-data with a 'file'", parameter: "file")
        }
        let form = try Self.form(request.body, boundary: boundary)
        guard let file = form.part("file") else {
            throw APIError(400, "'file' is required", parameter: "file")
        }
        let format = try Self.nonEmpty(form.text("response_format")) ?? "json"
        guard ["json", "text", "srt", "vtt", "verbose_json"].contains(format) else {
            throw APIError(
                400, "response_format must be json, text, srt, vtt or verbose_json", parameter: "response_format")
        }
        if let temperature = try Self.nonEmpty(form.text("temperature")) {
            guard let value = Double(temperature), value.isFinite, (0...1).contains(value) else {
                throw APIError(400, "temperature must be between 0 and 1", parameter: "temperature")
            }
        }
        let granularities = try form.texts("timestamp_granularities[]") + form.texts("timestamp_granularities")
        for granularity in granularities where granularity != "word" && granularity != "segment" {
            throw APIError(400, "timestamp_granularities are word and segment", parameter: "timestamp_granularities")
        }
        let stream = try Self.nonEmpty(form.text("stream")).map { ["true", "1", "yes"].contains($0.lowercased()) }
        let upload = try self.plannedUpload(file, from: form)
        var spec = self.spec(bucket: upload.bucket, key: upload.key)
        spec.ephemeral = true
        spec.function = try self.function(for: form.text("model"), among: self.dependencies.transcriptionFunctions)
        spec.language = try Self.nonEmpty(form.text("language"))
        spec.prompt = try Self.nonEmpty(form.text("prompt", maxBytes: 8 << 10))
        if ["srt", "vtt", "text"].contains(format) {
            spec.formats = ["json", format == "text" ? "txt" : format]
        }
        if stream == true {
            return try await self.streamTranscription(spec, upload: upload)
        }
        let finished = spec
        return try await self.transcription(spec, upload: upload) { job in
            switch format {
            case "text", "srt", "vtt":
                let name = format == "text" ? "txt" : format
                let data = try await self.read(finished.outputPrefix + "." + name, bucket: finished.bucket)
                let type = format == "vtt" ? "text/vtt" : format == "srt" ? "application/x-subrip" : "text/plain"
                return HTTPServerResponse(
                    status: 200, headers: [("Content-Type", type + "; charset=utf-8")], body: .data(data))
            case "verbose_json":
                let document = try await self.storedTranscript(of: job, spec: finished)
                return .json(Self.verbose(document, words: granularities.contains("word")))
            default:
                let document = try await self.storedTranscript(of: job, spec: finished)
                return .json(.object(["text": document["text"] ?? .string("")]))
            }
        }
    }

    /// A job for `key` in `bucket`, with outputs beside it under the transcript prefix.
    func spec(bucket: String?, key: String) -> TranscriptionJobSpec {
        TranscriptionJobSpec(
            bucket: bucket, input: key, formats: ["json"],
            outputPrefix: self.settings.jobDefaults.transcriptPrefix + key)
    }

    /// Checks `spec`, stores `upload` for it, submits it from the network and waits for its job, then answers with
    /// `answer(job)` once the job succeeded; a job that did not succeed becomes the error its callers expect (404
    /// for a missing object, 400 for bad input, 500 with every provider's reason).
    ///
    /// Nothing is stored for a request that fails its checks. Once the job has ended, whatever came of it, the
    /// upload and the job's outputs are removed; a job still running when the wait ends keeps them. Requests whose
    /// outputs share a prefix (the same media) run one after another, so each reads its own transcript.
    func transcription(
        _ spec: TranscriptionJobSpec, upload: Upload?,
        answer: (Job) async throws -> HTTPServerResponse
    ) async throws -> HTTPServerResponse {
        let request = try self.checked(EnqueueRequest(payload: .transcription(spec), origin: .network))
        return try await self.waitingSlot {
            try await self.outputLocks.withLock(
                (spec.bucket ?? self.dependencies.defaultBucket) + "/" + spec.outputPrefix
            ) {
                try await self.runLocked(request, spec: spec, upload: upload, answer: answer)
            }
        }
    }

    private func runLocked(
        _ request: EnqueueRequest, spec: TranscriptionJobSpec, upload: Upload?,
        answer: (Job) async throws -> HTTPServerResponse
    ) async throws -> HTTPServerResponse {
        if let upload {
            try await self.store(upload)
        }
        let job: Job
        do {
            job = try await self.dependencies.control.submitAndWait(request, timeout: self.settings.syncTimeout)
        } catch {
            if let upload {
                await self.discard(upload, spec: spec)
            }
            throw (error as? RequestError).map { APIError.invalid($0) } ?? error
        }
        do {
            try self.checkFinished(job)
            let response = try await answer(job)
            if let upload {
                await self.discard(upload, spec: spec)
            }
            return response
        } catch {
            if let upload, !job.status.isActive {
                await self.discard(upload, spec: spec)
            }
            throw error
        }
    }

    /// `request` as it will run; a request that can never run is a 400 (or the status its field calls for).
    func checked(_ request: EnqueueRequest) throws(APIError) -> EnqueueRequest {
        do {
            return try self.dependencies.control.requests.validate(request)
        } catch {
            throw APIError.invalid(error)
        }
    }

    /// Throws the error a job that did not succeed stands for.
    func checkFinished(_ job: Job) throws(APIError) {
        switch job.status {
        case .succeeded:
            return
        case .queued, .running, .failed:
            throw APIError(
                504,
                "job \(job.id) is still \(job.status.rawValue) after \(self.settings.syncTimeout.formattedSeconds); "
                    + "follow it at /v1/jobs/\(job.id)", code: "job_pending")
        case .cancelled:
            throw APIError(409, "job \(job.id) was cancelled", code: "cancelled")
        case .dead:
            let error = job.error ?? JobError(kind: "internal", message: "the job failed", permanent: true)
            let details = error.details.isEmpty ? "" : " (" + error.details.joined(separator: "; ") + ")"
            switch error.kind {
            case "input_missing": throw APIError(404, error.message, code: error.kind)
            case "bad_input": throw APIError(400, error.message, code: error.kind)
            case "storage": throw APIError(503, "storage error: " + error.message, code: error.kind)
            default: throw APIError(500, "transcribe error: " + error.message + details, code: error.kind)
            }
        }
    }

    /// The transcript JSON a job stored.
    func storedTranscript(of job: Job, spec: TranscriptionJobSpec) async throws -> JSONValue {
        let data = try await self.read(spec.outputPrefix + ".json", bucket: spec.bucket)
        guard let document = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw APIError(500, "the stored transcript of job \(job.id) is not JSON")
        }
        return document
    }

    /// An object's bytes (outputs are small: transcripts and subtitles).
    func read(_ key: String, bucket: String?) async throws -> Data {
        let store = try self.dependencies.storage.bucket(bucket ?? self.dependencies.defaultBucket)
        let file = try await store.get(key)
        defer { try? FileManager.default.removeItem(at: file) }
        return try Data(contentsOf: file)
    }

    /// An uploaded file part and the key it will be stored at, in the default bucket.
    struct Upload: Sendable {
        var part: MultipartBody.Part
        var form: MultipartBody
        var bucket: String
        var key: String
    }

    /// Names the key an uploaded part will be stored at, without storing it yet (the request is checked first).
    func plannedUpload(_ part: MultipartBody.Part, from form: MultipartBody) throws(APIError) -> Upload {
        guard part.range.count > 0 else {
            throw APIError(400, "the uploaded file is empty", parameter: part.name)
        }
        let name = Self.safeName(part.filename ?? "upload")
        let key = self.settings.uploadPrefix + UUID().uuidString.lowercased() + "/" + name
        return Upload(part: part, form: form, bucket: self.dependencies.defaultBucket, key: key)
    }

    /// Stores an upload where ``plannedUpload(_:from:)`` said.
    func store(_ upload: Upload) async throws {
        let file = self.dependencies.scratch.appendingPathComponent("audio-worker-upload-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try upload.form.copy(upload.part, to: file)
        let store = try self.dependencies.storage.bucket(upload.bucket)
        do {
            try await store.put(upload.key, from: file, contentType: Self.mediaType(upload.part.contentType))
        } catch let error as StorageError {
            self.dependencies.logger.warning("upload not stored", ["error": .string(error.description)])
            throw APIError(503, "the upload could not be stored; retry shortly", headers: [("Retry-After", "5")])
        }
    }

    /// Removes an upload and the outputs its job wrote; a failure is logged, not thrown (the answer is ready).
    func discard(_ upload: Upload, spec: TranscriptionJobSpec) async {
        let keys = [upload.key] + Set(spec.formats + ["json"]).sorted().map { spec.outputPrefix + "." + $0 }
        do {
            let store = try self.dependencies.storage.bucket(upload.bucket)
            for key in keys {
                try await store.delete(key)
            }
        } catch {
            self.dependencies.logger.warning(
                "upload not removed", ["key": .string(upload.key), "error": .string("\(error)")])
        }
    }

    /// A part's content type if it is a plain `type/subtype` (with parameters), else nil: it becomes a header of
    /// the storage request.
    static func mediaType(_ value: String?) -> String? {
        guard let value, value.utf8.count <= 200 else { return nil }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "!#$&^_.+-/;= \""))
        guard value.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }),
            value.split(separator: ";").first?.split(separator: "/").count == 2
        else { return nil }
        return value
    }

    /// The gateway function OpenAI's `model` names: `tensorzero::function_name::NAME`, or a function's own name;
    /// anything else (`whisper-1`, `tts-1`) is the configured default.
    func function(for model: String?, among functions: [String]) throws(APIError) -> String? {
        guard let model, !model.isEmpty else { return nil }
        let prefix = "tensorzero::function_name::"
        if model.hasPrefix(prefix) {
            let name = String(model.dropFirst(prefix.count))
            guard functions.contains(name) else {
                throw APIError(
                    404, "no audio function '\(name.prefix(80))'", parameter: "model", code: "model_not_found")
            }
            return name
        }
        return functions.contains(model) ? model : nil
    }

    /// OpenAI's `verbose_json` from our document: language by name, segments with every field the schema lists.
    static func verbose(_ document: JSONValue, words: Bool) -> JSONValue {
        var segments: [JSONValue] = []
        if case .array(let items) = document["segments"] {
            for item in items {
                segments.append(
                    .object([
                        "id": item["id"] ?? .number(Double(segments.count)), "seek": .number(0),
                        "start": item["start"] ?? .number(0), "end": item["end"] ?? .number(0),
                        "text": item["text"] ?? .string(""), "tokens": .array([]), "temperature": .number(0),
                        "avg_logprob": .number(0), "compression_ratio": .number(1), "no_speech_prob": .number(0),
                    ]))
            }
        }
        var reply: [String: JSONValue] = [
            "task": .string("transcribe"), "duration": document["duration"] ?? .number(0),
            "text": document["text"] ?? .string(""), "segments": .array(segments),
        ]
        if case .string(let code) = document["language"] {
            reply["language"] = .string(LanguageCodes.name(for: code) ?? code)
        } else {
            reply["language"] = .string("unknown")
        }
        if words {
            var list: [JSONValue] = []
            if case .array(let items) = document["word_segments"] {
                for item in items {
                    list.append(
                        .object([
                            "word": item["word"] ?? .string(""), "start": item["start"] ?? .number(0),
                            "end": item["end"] ?? .number(0),
                        ]))
                }
            }
            reply["words"] = .array(list)
        }
        return .object(reply)
    }

    // MARK: request parsing

    static func form(_ body: HTTPRequestBody, boundary: String) throws(APIError) -> MultipartBody {
        do {
            return try MultipartBody(body: body, boundary: boundary)
        } catch {
            throw APIError(400, "malformed multipart body: \(error.description)")
        }
    }

    /// The body as a JSON object (422 otherwise, as FastAPI answers); a body over ``Settings/maxJSONBytes`` is 413
    /// and is not read.
    func jsonObject(_ body: HTTPRequestBody) throws(APIError) -> [String: JSONValue] {
        let data: Data
        switch body {
        case .empty: data = Data()
        case .memory(let bytes): data = bytes
        case .file(let url, let size):
            guard size <= Int64(self.settings.maxJSONBytes) else {
                throw APIError(413, "a JSON body is at most \(self.settings.maxJSONBytes) bytes")
            }
            guard let bytes = try? Data(contentsOf: url) else { throw APIError(500, "the body could not be read") }
            data = bytes
        }
        guard data.count <= self.settings.maxJSONBytes else {
            throw APIError(413, "a JSON body is at most \(self.settings.maxJSONBytes) bytes")
        }
        guard case .object(let members) = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            throw APIError(422, "the body must be a JSON object")
        }
        return members
    }

    static func string(_ value: JSONValue?) -> String? {
        if case .string(let text) = value { return text }
        return nil
    }

    /// The string at `field`, nil when absent or null; any other type is a 422, as FastAPI answers a wrong type.
    static func string(_ body: [String: JSONValue], _ field: String) throws(APIError) -> String? {
        switch body[field] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw APIError(422, "'\(field)' must be a string", parameter: field)
        }
    }

    static func nonEmpty(_ text: String?) -> String? {
        guard let text else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// ffmpeg-whisper's provider names, checked for its callers (the gateway chooses the engine here).
    static func checkProvider(_ provider: String) throws(APIError) {
        guard ["faster-whisper", "whisper", "qwen2-audio"].contains(provider.lowercased()) else {
            throw APIError(400, "provider must be one of faster-whisper, whisper, qwen2-audio")
        }
    }

    /// A file name safe as the last segment of a key.
    static func safeName(_ name: String) -> String {
        let last = name.split(whereSeparator: { $0 == "/" || $0 == "\\" }).last.map(String.init) ?? ""
        let cleaned = String(last.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
            .prefix(120)
        return cleaned.isEmpty || cleaned == "." || cleaned == ".." ? "upload" : String(cleaned)
    }
}
