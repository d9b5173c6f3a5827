import Foundation

/// Speech-to-text over the OpenAI audio API (`POST {api_base}/audio/transcriptions`, multipart), as served by
/// OpenAI, Groq, speaches / faster-whisper-server and, with `path = "/inference"`, whisper.cpp's server.
package struct OpenAITranscriptionClient: SpeechToText {
    /// The full request URL.
    package let endpoint: URL
    /// The `model` form field; nil to omit it (whisper.cpp ignores it).
    package let modelName: String?
    private let apiKey: Secret?
    private let settings: AudioProviderSettings
    private let timeout: Duration
    private let http: any HTTPClient
    private let encoder: any AudioEncoding

    /// Creates a client. `apiKey` is sent as a bearer token and never logged.
    package init(
        endpoint: URL, modelName: String?, apiKey: Secret?, settings: AudioProviderSettings, timeout: Duration,
        http: any HTTPClient, encoder: any AudioEncoding
    ) {
        self.endpoint = endpoint
        self.modelName = modelName
        self.apiKey = apiKey
        self.settings = settings
        self.timeout = timeout
        self.http = http
        self.encoder = encoder
    }

    /// Whether the model answers `json` only, without timings (OpenAI's gpt-4o transcription models).
    private var isJSONOnly: Bool {
        if let format = self.settings.responseFormat {
            return format == "json"
        }
        let model = self.modelName ?? ""
        return model.hasPrefix("gpt-4o") || model.hasPrefix("gpt-transcribe")
    }

    private var isWhisperCpp: Bool { self.settings.path == "/inference" }

    package func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
        let (format, audio) = try await self.encodeUpload(request)
        var form = MultipartForm()
        form.addFile("file", filename: "audio.\(format.fileExtension)", contentType: format.mimeType, data: audio)
        if let modelName = self.modelName {
            form.add("model", modelName)
        }
        if let language = request.language {
            form.add("language", language)
        } else if self.isWhisperCpp {
            form.add("language", "auto")
        }
        if let prompt = request.prompt, !prompt.isEmpty {
            form.add("prompt", prompt)
        }
        form.add("response_format", self.isJSONOnly ? "json" : "verbose_json")
        if !self.isJSONOnly {
            form.add("timestamp_granularities[]", "segment")
            if request.wordTimestamps {
                form.add("timestamp_granularities[]", "word")
            }
        }
        form.add("temperature", "0")
        var headers = ["Content-Type": form.contentType, "Accept": "application/json"]
        if let apiKey = self.apiKey {
            headers["Authorization"] = "Bearer \(apiKey.reveal())"
        }
        let body = form.encoded
        do {
            let response = try await self.http.sendToProvider(
                HTTPRequest(
                    method: .post, url: self.endpoint, headers: headers, body: body, timeout: self.timeout,
                    maxResponseBytes: 32 << 20))
            do {
                let transcript = try TranscriptionReplyParser.parse(response.body, duration: request.duration)
                return TranscriptionResult(transcript: transcript, bytesSent: body.count)
            } catch {
                var failure = error
                failure.bytesSent = body.count
                throw failure
            }
        } catch let failure as ProviderFailure {
            throw failure.redacting(self.apiKey)
        }
    }

    /// Encodes the samples in the configured format, falling back to compressed formats that fit the upload limit.
    private func encodeUpload(_ request: TranscriptionRequest) async throws -> (AudioFileFormat, Data) {
        let preferred = AudioFileFormat(fileExtension: self.settings.uploadFormat ?? "wav") ?? .wav
        let limit = self.settings.maxUploadBytes ?? Int.max
        var tried: [String] = []
        for format in [preferred, .flac, .mp3] where !tried.contains(format.rawValue) {
            tried.append(format.rawValue)
            let data = try await self.encoder.encode(
                request.samples, sampleRate: request.sampleRate, as: format, outputRate: request.sampleRate)
            if data.count <= limit {
                return (format, data)
            }
        }
        throw ProviderFailure(
            .tooLarge,
            message: String(
                format: "%.1f s of audio does not fit the %d-byte upload limit even as %@", request.duration, limit,
                tried.joined(separator: "/")))
    }
}
