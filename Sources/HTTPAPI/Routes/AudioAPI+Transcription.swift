import Foundation
import PipelineCore

extension AudioAPI {
    /// ffmpeg-whisper's `POST /transcribe` (JSON with `bucket` and `key`, or multipart with an `audio` file) and
    /// `POST /transcribe_file` (multipart): enqueue, wait, answer with every field pmoves-yt and flute read.
    func transcribe(_ request: HTTPServerRequest, fileRoute: Bool) async throws -> HTTPServerResponse {
        let contentType = request.head.headers.first("Content-Type") ?? ""
        var spec: TranscriptionJobSpec
        var uploaded = false
        if let boundary = MultipartBody.boundary(fromContentType: contentType) {
            let form = try Self.form(request.body, boundary: boundary)
            guard let audio = form.part("audio") ?? form.part("file") else {
                throw APIError(400, "the form needs an 'audio' file")
            }
            let (bucket, key) = try await self.store(upload: audio, from: form)
            spec = self.spec(bucket: bucket, key: key)
            spec.language = try Self.nonEmpty(form.text("language"))
            spec.contextID = try Self.nonEmpty(form.text("context_id"))
            if let provider = try Self.nonEmpty(form.text("provider")) {
                try Self.checkProvider(provider)
            }
            uploaded = true
        } else {
            guard !fileRoute else {
                throw APIError(422, "send multipart/form-data with an 'audio' file")
            }
            let body = try Self.jsonObject(request.body)
            guard let bucket = Self.string(body["bucket"]), !bucket.isEmpty, let key = Self.string(body["key"]),
                !key.isEmpty
            else {
                throw APIError(400, "bucket and key required")
            }
            if let provider = Self.string(body["provider"]), !provider.isEmpty {
                try Self.checkProvider(provider)
            }
            spec = self.spec(bucket: bucket, key: key)
            spec.language = Self.string(body["language"]).flatMap { $0.isEmpty ? nil : $0 }
            spec.outAudioKey = Self.string(body["out_audio_key"]).flatMap { $0.isEmpty ? nil : $0 }
            spec.videoID = Self.string(body["video_id"]).flatMap { $0.isEmpty ? nil : $0 }
            spec.namespace = Self.string(body["namespace"]).flatMap { $0.isEmpty ? nil : $0 }
            spec.contextID = Self.string(body["context_id"]).flatMap { $0.isEmpty ? nil : $0 }
        }
        if spec.contextID == nil, let header = request.head.headers.first("x-context-id"), !header.isEmpty {
            spec.contextID = header
        }
        let job = try await self.runTranscription(spec)
        var document = try await self.storedTranscript(of: job, spec: spec)
        if case .object(var members) = document {
            members["device"] = members["device"] ?? .null
            if fileRoute || uploaded {
                // ffmpeg-whisper's file route stores nothing: no object to point at.
                members["audio_uri"] = nil
                members["s3_uri"] = nil
                members["forwarded"] = nil
            } else {
                members["forwarded"] = .null
            }
            members["job_id"] = .string(job.id)
            document = .object(members)
        }
        return .json(document)
    }

    /// OpenAI's `POST /v1/audio/transcriptions`, multipart, in every `response_format`, or as Server-Sent Events
    /// with `stream=true`.
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
        let (bucket, key) = try await self.store(upload: file, from: form)
        var spec = self.spec(bucket: bucket, key: key)
        spec.function = try self.function(for: form.text("model"), among: self.dependencies.transcriptionFunctions)
        spec.language = try Self.nonEmpty(form.text("language"))
        spec.prompt = try Self.nonEmpty(form.text("prompt", maxBytes: 8 << 10))
        if ["srt", "vtt", "text"].contains(format) {
            spec.formats = ["json", format == "text" ? "txt" : format]
        }
        if stream == true {
            return try self.streamTranscription(spec)
        }
        let job = try await self.runTranscription(spec, shape: .openAI)
        let document = try await self.storedTranscript(of: job, spec: spec)
        switch format {
        case "text", "srt", "vtt":
            let name = format == "text" ? "txt" : format
            let data = try await self.read(spec.outputPrefix + "." + name, bucket: spec.bucket)
            let type = format == "vtt" ? "text/vtt" : format == "srt" ? "application/x-subrip" : "text/plain"
            return HTTPServerResponse(
                status: 200, headers: [("Content-Type", type + "; charset=utf-8")], body: .data(data))
        case "verbose_json":
            return .json(Self.verbose(document, words: granularities.contains("word")))
        default:
            return .json(.object(["text": document["text"] ?? .string("")]))
        }
    }

    /// A job for `key` in `bucket`, with outputs beside it under the transcript prefix.
    func spec(bucket: String?, key: String) -> TranscriptionJobSpec {
        TranscriptionJobSpec(
            bucket: bucket, input: key, formats: ["json"],
            outputPrefix: self.settings.jobDefaults.transcriptPrefix + key)
    }

    /// Submits `spec` from the network and waits for its job; a job that did not succeed becomes the error its
    /// callers expect (404 for a missing object, 400 for bad input, 500 with every provider's reason).
    func runTranscription(_ spec: TranscriptionJobSpec, shape: APIError.Shape = .fastAPI) async throws -> Job {
        let request = EnqueueRequest(payload: .transcription(spec), origin: .network)
        let job: Job
        do {
            job = try await self.waitingSlot {
                try await self.dependencies.control.submitAndWait(request, timeout: self.settings.syncTimeout)
            }
        } catch let error as RequestError {
            throw APIError.invalid(error)
        }
        try self.checkFinished(job)
        return job
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

    /// Stores an uploaded file part as a new object in the default bucket; returns where.
    func store(upload part: MultipartBody.Part, from form: MultipartBody) async throws -> (String, String) {
        guard part.range.count > 0 else {
            throw APIError(400, "the uploaded file is empty", parameter: part.name)
        }
        let name = Self.safeName(part.filename ?? "upload")
        let key = self.settings.uploadPrefix + UUID().uuidString.lowercased() + "/" + name
        let file = self.dependencies.scratch.appendingPathComponent("audio-worker-upload-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: file) }
        try form.copy(part, to: file)
        let store = try self.dependencies.storage.bucket(self.dependencies.defaultBucket)
        try await store.put(key, from: file, contentType: part.contentType)
        return (self.dependencies.defaultBucket, key)
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

    /// The body as a JSON object (422 otherwise, as FastAPI answers).
    static func jsonObject(_ body: HTTPRequestBody) throws(APIError) -> [String: JSONValue] {
        let data: Data
        switch body {
        case .empty: data = Data()
        case .memory(let bytes): data = bytes
        case .file(let url, _):
            guard let bytes = try? Data(contentsOf: url) else { throw APIError(500, "the body could not be read") }
            data = bytes
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
