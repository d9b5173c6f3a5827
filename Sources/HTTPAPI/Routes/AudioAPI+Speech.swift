import Foundation
import PipelineCore

extension AudioAPI {
    /// OpenAI's `POST /v1/audio/speech`: a synthesis job whose audio is streamed in order as its pieces finish,
    /// so a long text starts playing after its first piece. The whole file is also stored, as every job's is.
    func openAISpeech(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let body = try Self.jsonObject(request.body)
        guard let input = Self.string(body["input"]), !input.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            throw APIError(400, "'input' is required and must not be empty", parameter: "input")
        }
        guard input.count <= self.settings.maxSpeechCharacters else {
            throw APIError(
                400, "'input' has \(input.count) characters; the limit is \(self.settings.maxSpeechCharacters)",
                parameter: "input", code: "string_above_max_length")
        }
        let requested = Self.string(body["response_format"]) ?? "mp3"
        let formats: [String: AudioFileFormat] = [
            "mp3": .mp3, "opus": .opus, "aac": .m4a, "flac": .flac, "wav": .wav, "pcm": .pcm,
        ]
        guard let format = formats[requested] else {
            throw APIError(
                400, "response_format must be mp3, opus, aac, flac, wav or pcm", parameter: "response_format")
        }
        if let streamFormat = Self.string(body["stream_format"]), streamFormat != "audio" {
            throw APIError(400, "only stream_format 'audio' is supported", parameter: "stream_format")
        }
        var speed: Double?
        if let value = body["speed"], value != .null {
            guard case .number(let number) = value, number.isFinite, (0.25...4).contains(number) else {
                throw APIError(400, "speed must be a number from 0.25 to 4", parameter: "speed")
            }
            speed = number
        }
        let voice = Self.string(body["voice"]).flatMap { $0.isEmpty ? nil : $0 }
        let function = try self.function(for: Self.string(body["model"]), among: self.dependencies.speechFunctions)
        return try await self.streamSpeech(
            text: input, voice: voice, speed: speed, function: function, format: format,
            contentType: requested == "aac" ? "audio/aac" : format.mimeType)
    }

    /// Submits a synthesis and answers with its audio as it is produced, encoded as `format` at 24 kHz.
    ///
    /// The answer waits for the first block of audio, so a job that fails before any speech is an error response
    /// (503 when no speech provider could serve, 400 for bad input), not a truncated body.
    func streamSpeech(
        text: String, voice: String?, speed: Double?, function: String?, format: AudioFileFormat, contentType: String,
        sampleRate: Int = 24_000
    ) async throws -> HTTPServerResponse {
        let bucket = self.dependencies.defaultBucket
        let outputKey = self.settings.speechPrefix + UUID().uuidString.lowercased() + "." + format.fileExtension
        let spec = SynthesisJobSpec(
            bucket: bucket, text: text, voice: voice, format: format.rawValue, sampleRate: sampleRate, speed: speed,
            function: function, outputKey: outputKey)
        let live = self.dependencies.liveAudio
        // Listening before the job exists: no block can come before the listener.
        let audio = live.listen(bucket: bucket, outputKey: outputKey)
        let control = self.dependencies.control
        let job: Job
        do {
            job = try await control.submit(EnqueueRequest(payload: .synthesis(spec), origin: .network)).job
        } catch let error as RequestError {
            live.stopListening(bucket: bucket, outputKey: outputKey)
            throw APIError.invalid(error)
        }
        let timeout = self.settings.syncTimeout
        enum First: Sendable {
            case audio([Float])
            case ended(Job)
        }
        let first: First = await withTaskGroup(of: First?.self) { group in
            group.addTask {
                guard case .samples(let samples) = await audio.receive() else { return nil }
                return .audio(samples)
            }
            group.addTask { (try? await control.waitForEnd(of: job.id, timeout: timeout)).map(First.ended) }
            var outcome: First?
            while outcome == nil, let next = await group.next() {
                outcome = next
            }
            group.cancelAll()
            return outcome ?? .ended(job)
        }
        let firstBlock: [Float]
        switch first {
        case .audio(let samples):
            firstBlock = samples
        case .ended(let ended):
            live.stopListening(bucket: bucket, outputKey: outputKey)
            if ended.status != .succeeded {
                throw Self.speechFailure(ended)
            }
            // Done before its first block was taken: send the stored file.
            let data = try await self.read(outputKey, bucket: bucket)
            return HTTPServerResponse(
                status: 200, headers: [("Content-Type", contentType), ("X-Job-Id", job.id)], body: .data(data))
        }
        let encoder = self.dependencies.encoder
        return HTTPServerResponse(
            status: 200, headers: [("Content-Type", contentType), ("X-Job-Id", job.id)],
            body: .writer { writer in
                defer { live.stopListening(bucket: bucket, outputKey: outputKey) }
                let stream = try await encoder.openStream(sampleRate: sampleRate, as: format, outputRate: sampleRate)
                try await writer.write(try await stream.write(firstBlock))
                var complete = false
                while let block = await audio.receive() {
                    try Task.checkCancellation()
                    switch block {
                    case .samples(let samples):
                        let bytes = try await stream.write(samples)
                        if !bytes.isEmpty {
                            try await writer.write(bytes)
                        }
                    case .end(let whole):
                        complete = whole
                    }
                }
                // An attempt that failed midway leaves the client a cut-off body, never a body that looks whole.
                guard complete else {
                    throw APIError(502, "the synthesis of job \(job.id) failed midway; see /v1/jobs/\(job.id)")
                }
                try await writer.write(try await stream.finish())
            })
    }

    /// The error a synthesis that did not succeed stands for.
    static func speechFailure(_ job: Job) -> APIError {
        let error = job.error
        switch (job.status, error?.kind) {
        case (.dead, "bad_input"): return APIError(400, error?.message ?? "bad input", code: "bad_input")
        case (.dead, "provider"):
            return APIError(
                503, "no speech provider could serve: " + (error?.message ?? ""), code: "no_provider",
                headers: [("Retry-After", "5")])
        case (.cancelled, _): return APIError(409, "job \(job.id) was cancelled", code: "cancelled")
        case (.queued, _), (.running, _), (.failed, _):
            return APIError(504, "job \(job.id) is still \(job.status.rawValue); follow it at /v1/jobs/\(job.id)")
        default: return APIError(500, error?.message ?? "the synthesis failed", code: error?.kind)
        }
    }
}
