import Foundation
import PipelineCore

extension AudioAPI {
    /// OpenAI's `POST /v1/audio/speech`: a synthesis job whose audio is streamed in order as its pieces finish,
    /// so a long text starts playing after its first piece. The whole file is also stored, as every job's is.
    func openAISpeech(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        let body = try self.jsonObject(request.body)
        guard let input = try Self.string(body, "input"),
            !input.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            throw APIError(400, "'input' is required and must not be empty", parameter: "input")
        }
        guard input.count <= self.settings.maxSpeechCharacters else {
            throw APIError(
                400, "'input' has \(input.count) characters; the limit is \(self.settings.maxSpeechCharacters)",
                parameter: "input", code: "string_above_max_length")
        }
        let requested = try Self.string(body, "response_format") ?? "mp3"
        let formats: [String: AudioFileFormat] = [
            "mp3": .mp3, "opus": .opus, "aac": .m4a, "flac": .flac, "wav": .wav, "pcm": .pcm,
        ]
        guard let format = formats[requested] else {
            throw APIError(
                400, "response_format must be mp3, opus, aac, flac, wav or pcm", parameter: "response_format")
        }
        if let streamFormat = try Self.string(body, "stream_format"), streamFormat != "audio" {
            throw APIError(400, "only stream_format 'audio' is supported", parameter: "stream_format")
        }
        let speed = try Self.speed(body, status: 400)
        let voice: String?
        switch body["voice"] {
        case nil, .null?: voice = nil
        case .string(let name)?: voice = name.isEmpty ? nil : name
        // OpenAI also takes a custom voice as an object with its id.
        case .object(let members)? where Self.string(members["id"]) != nil: voice = Self.string(members["id"])
        default: throw APIError(422, "'voice' must be a string or an object with an 'id'", parameter: "voice")
        }
        let function = try self.function(
            for: Self.string(body, "model"), among: self.dependencies.speechFunctions)
        return try await self.streamSpeech(
            text: input, voice: voice, speed: speed, function: function, format: format,
            contentType: requested == "aac" ? "audio/aac" : format.mimeType)
    }

    /// flute-gateway's local voice services' `POST /synthesize` (Kokoro on port 8004, OmniVoice): `{text, voice?,
    /// speed?, lang?, instruct?}`, unknown fields ignored, answered with a PCM16 mono 24 kHz WAV streamed as its
    /// pieces finish, through `flute_tts_synthesis` (local voice first, cloud voices after, each voice name mapped
    /// by the provider's `voices`). So flute routes its speech here by changing `KOKORO_URL` alone.
    func localVoiceSynthesis(_ request: HTTPServerRequest) async throws -> HTTPServerResponse {
        // The voice token, when one is configured, was checked on the request's head (``admit(_:)``).
        let body = try self.jsonObject(request.body)
        guard let text = try Self.string(body, "text"), !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        else {
            throw APIError(400, "'text' is required and must not be empty", parameter: "text")
        }
        guard text.count <= self.settings.maxSpeechCharacters else {
            throw APIError(
                413, "'text' has \(text.count) characters; the limit is \(self.settings.maxSpeechCharacters)",
                parameter: "text")
        }
        let speed = try Self.speed(body, status: 422)
        // Read for their types only: the voices behind the function take no language or style instruction.
        for field in ["lang", "instruct", "ref_text"] {
            _ = try Self.string(body, field)
        }
        return try await self.streamSpeech(
            text: text, voice: Self.nonEmpty(try Self.string(body, "voice")), speed: speed, function: nil,
            format: .wav, contentType: "audio/wav", sampleRate: 24_000, minimumSeconds: Self.shortestVoiceReply)
    }

    /// flute-gateway skips audio shorter than half a second; a one-word answer is padded to it.
    static let shortestVoiceReply = 0.6

    /// The body's `speed`, if any; `status` answers one that is not a number from 0.25 to 4 (OpenAI's routes say
    /// 400, FastAPI's 422).
    static func speed(_ body: [String: JSONValue], status: Int) throws(APIError) -> Double? {
        guard let value = body["speed"], value != .null else { return nil }
        guard case .number(let number) = value, number.isFinite, (0.25...4).contains(number) else {
            throw APIError(status, "'speed' must be a number from 0.25 to 4", parameter: "speed")
        }
        return number
    }

    /// Submits a synthesis and answers with its audio as it is produced, encoded as `format` at 24 kHz, and at
    /// least `minimumSeconds` long (the job pads it, so the stored file and the stream agree).
    ///
    /// The answer waits for the first block of audio (holding a waiting slot), so a job that fails before any
    /// speech is an error response (503 when no speech provider could serve, 400 for bad input), not a truncated
    /// body. After that, blocks are encoded into a ``SpeechSpool`` as fast as the job makes them and sent from it
    /// at the client's pace; the listener is dropped when the server is done with the response, sent or not.
    func streamSpeech(
        text: String, voice: String?, speed: Double?, function: String?, format: AudioFileFormat, contentType: String,
        sampleRate: Int = 24_000, minimumSeconds: Double = 0
    ) async throws -> HTTPServerResponse {
        let bucket = self.dependencies.defaultBucket
        let outputKey = self.settings.speechPrefix + UUID().uuidString.lowercased() + "." + format.fileExtension
        let spec = SynthesisJobSpec(
            bucket: bucket, text: text, voice: voice, format: format.rawValue, sampleRate: sampleRate, speed: speed,
            function: function, outputKey: outputKey, minimumSeconds: minimumSeconds > 0 ? minimumSeconds : nil)
        let request = try self.checked(EnqueueRequest(payload: .synthesis(spec), origin: .network))
        let live = self.dependencies.liveAudio
        let control = self.dependencies.control
        let timeout = self.settings.syncTimeout
        enum First: Sendable {
            case audio([Float])
            case ended(Job)
        }
        // Listening before the job exists: no block can come before the listener.
        let audio = live.listen(bucket: bucket, outputKey: outputKey)
        let stopListening: @Sendable () -> Void = { live.stopListening(bucket: bucket, outputKey: outputKey) }
        let job: Job
        let first: First
        do {
            (job, first) = try await self.waitingSlot {
                let job: Job
                do {
                    job = try await control.submit(request).job
                } catch let error as RequestError {
                    throw APIError.invalid(error)
                }
                let first: First = await withTaskGroup(of: First?.self) { group in
                    group.addTask {
                        guard case .samples(let samples) = await audio.receive() else { return nil }
                        return .audio(samples)
                    }
                    group.addTask {
                        (try? await control.waitForEnd(of: job.id, timeout: timeout, orFirstFailure: true))
                            .map(First.ended)
                    }
                    var outcome: First?
                    while outcome == nil, let next = await group.next() {
                        outcome = next
                    }
                    group.cancelAll()
                    return outcome ?? .ended(job)
                }
                return (job, first)
            }
        } catch {
            stopListening()
            throw error
        }
        let firstBlock: [Float]
        switch first {
        case .audio(let samples):
            firstBlock = samples
        case .ended(let ended):
            stopListening()
            var final = ended
            if ended.status == .failed {
                // Its first attempt failed: the caller is told to come back (503 with Retry-After) rather than held
                // until the retry, and the job, whose audio nobody would receive, is cancelled; unless its retry
                // has just succeeded, when the audio is there to send.
                if let cancelled = try? await control.cancel(id: ended.id), cancelled.status == .succeeded {
                    final = cancelled
                }
            }
            if final.status != .succeeded {
                throw Self.speechFailure(ended)
            }
            // Done before its first block was taken (or run by another process): send the stored file, labelled
            // as what it is (AAC is stored in an MP4 container, streamed as ADTS).
            let store = try self.dependencies.storage.bucket(bucket)
            let file = try await store.get(outputKey)

            return HTTPServerResponse(
                status: 200,
                headers: [("Content-Type", format == .m4a ? format.mimeType : contentType), ("X-Job-Id", job.id)],
                body: .file(file), onDone: { try? FileManager.default.removeItem(at: file) })
        }
        let encoder = self.dependencies.encoder
        let scratch = self.dependencies.scratch
        return HTTPServerResponse(
            status: 200, headers: [("Content-Type", contentType), ("X-Job-Id", job.id)],
            body: .writer { writer in
                let spool = try SpeechSpool(directory: scratch)
                defer { spool.remove() }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        // Encodes as fast as the job speaks, whatever the client's pace.
                        do {
                            let stream = try await encoder.openStream(
                                sampleRate: sampleRate, as: format, outputRate: sampleRate)
                            // A block can be a whole piece (a minute of speech): encoded a second at a time, the
                            // encoded copies stay small.
                            func encode(_ samples: [Float]) async throws {
                                var start = samples.startIndex
                                while start < samples.endIndex {
                                    let end = min(start + sampleRate, samples.endIndex)
                                    try spool.append(try await stream.write(Array(samples[start..<end])))
                                    start = end
                                }
                            }
                            try await encode(firstBlock)
                            var complete = false
                            while let block = await audio.receive() {
                                try Task.checkCancellation()
                                switch block {
                                case .samples(let samples): try await encode(samples)
                                case .end(let whole): complete = whole
                                }
                            }
                            if complete {
                                try spool.append(try await stream.finish())
                            }
                            spool.close(complete ? .complete : .failed)
                        } catch {
                            spool.close(.failed)
                            throw error
                        }
                    }
                    var offset = 0
                    while true {
                        let (data, end) = try await spool.read(from: offset, limit: 256 << 10)
                        if !data.isEmpty {
                            try await writer.write(data)
                            offset += data.count
                            continue
                        }
                        // An attempt that failed midway leaves the client a cut-off body, never one that looks whole.
                        guard end == .complete else {
                            throw APIError(502, "the synthesis of job \(job.id) failed midway; see /v1/jobs/\(job.id)")
                        }
                        break
                    }
                    try await group.waitForAll()
                }
            },
            onDone: stopListening)
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
        case (.failed, _):
            let wait = max(1, Int((job.runAfter.timeIntervalSinceNow).rounded(.up)))
            return APIError(
                503, "no speech provider could serve now: " + (error?.message ?? ""), code: "no_provider",
                headers: [("Retry-After", String(min(wait, 3600)))])
        case (.queued, _), (.running, _):
            return APIError(504, "job \(job.id) is still \(job.status.rawValue); follow it at /v1/jobs/\(job.id)")
        default: return APIError(500, error?.message ?? "the synthesis failed", code: error?.kind)
        }
    }
}
