import PipelineCore
import Testing

struct WorkerConfigTests {
    @Test
    func theShippedFileLoadsWithItsValues() throws {
        let config = try WorkerConfig(ConfigTable.load(contentsOf: ConfigFixtures.path("config/audio-worker.toml")))

        #expect(config.worker.concurrency == 2)
        #expect(config.transcription.function == "pmoves_yt_transcription")
        #expect(config.transcription.windowSeconds == 28 && config.transcription.unpausedWindowSeconds == 28)
        #expect(config.transcription.keptPauseSeconds == 0.4)
        let sentAsIs = try WorkerConfig(ConfigFixtures.table("[transcription]\nkept_pause_s = 0\n"))
        #expect(sentAsIs.transcription.keptPauseSeconds == nil)
        #expect(config.speech.sampleRate == 24_000)
        #expect(config.models["openai_whisper"]?.providers["openai"]?.audio.maxUploadBytes == 25 * 1_048_576)
        #expect(config.extraVariants["flute_tts_synthesis"]?.first?.position == "last")
    }

    @Test(arguments: [
        ("[worker]\nconcurency = 3\n", "audio-worker.toml:2:1: unknown key 'concurency' in [worker]"),
        ("colour = \"blue\"\n", "audio-worker.toml:1:1: unknown key 'colour' at the top level"),
        (
            "[worker]\nconcurrency = \"four\"\n",
            "audio-worker.toml:2:1: 'worker.concurrency' must be an integer, not string"
        ),
        ("[worker]\nconcurrency = 0\n", "audio-worker.toml:2:1: 'worker.concurrency' must be from 1 to 256, not 0"),
        (
            "[worker]\nlease_s = 5\nheartbeat_s = 10\n",
            "audio-worker.toml:3:1: heartbeat_s must be shorter than lease_s, or leases expire while working"
        ),
        (
            "[transcription]\nformats = [\"json\", \"docx\"]\n",
            "audio-worker.toml:2:1: unknown transcript format 'docx'; use json, srt, vtt or txt"
        ),
        (
            "[models.m.providers.p]\nupload_format = \"aiff\"\n",
            "audio-worker.toml:2:1: upload_format must be wav, flac, mp3, opus or m4a, not 'aiff'"
        ),
        (
            "[models.m.providers.p]\nvoice_id = \"x\"\n",
            "audio-worker.toml:2:1: unknown key 'voice_id' in [models.m.providers.p]"
        ),
        (
            "[functions.f.variants.v]\nmodel = \"m\"\nposition = \"middle\"\n",
            "audio-worker.toml:3:1: position must be \"first\", \"last\", \"before:VARIANT\" or \"after:VARIANT\""
        ),
        (
            "[speech]\nformat = \"midi\"\n",
            "audio-worker.toml:2:1: unknown audio format 'midi'; use wav, mp3, opus, flac or pcm"
        ),
        ("[queue]\nbackend = \"kafka\"\n", "audio-worker.toml:2:1: backend must be \"sqlite\" or \"jetstream\""),
        ("[queue]\nreplicas = 7\n", "audio-worker.toml:2:1: 'queue.replicas' must be from 1 to 5, not 7"),
        (
            "[transcription]\nwindow_s = 28\nunpaused_window_s = 40\n",
            "audio-worker.toml:3:1: unpaused_window_s must not be longer than window_s (28.0)"
        ),
        (
            "[transcription]\nunpaused_window_s = 1\n",
            "audio-worker.toml:2:1: 'transcription.unpaused_window_s' must be from 5.0 to 7200.0, not 1.0"
        ),
        (
            "[transcription]\nkept_pause_s = 11\n",
            "audio-worker.toml:2:1: 'transcription.kept_pause_s' must be from 0.0 to 10.0, not 11.0"
        ),
        ("[queue]\nstream = \"X\"\n", "audio-worker.toml:2:1: unknown key 'stream' in [queue]"),
        ("[worker\nconcurrency = 3\n", "audio-worker.toml:1:8: expected ']' after the table name, found end of line"),
    ])
    func mistakesAreErrorsWithTheirLocation(document: String, expected: String) throws {
        do {
            _ = try WorkerConfig(ConfigFixtures.table(document, file: "audio-worker.toml"))
            Issue.record("no error for \(document)")
        } catch let error as ConfigError {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        } catch let error as TOMLError {
            #expect(ConfigError(error).description.hasPrefix(expected), "\(error.description)")
        }
    }

    @Test
    func environmentOverridesFileValues() throws {
        var config = try WorkerConfig(ConfigFixtures.table("[worker]\ndata_dir = \"file-data\"\nconcurrency = 2\n"))

        try config.applyEnvironment(["AUDIO_WORKER_DATA": "/srv/audio", "AUDIO_WORKER_CONCURRENCY": "8"])

        #expect(config.worker.dataDirectory == "/srv/audio")
        #expect(config.worker.concurrency == 8)
        #expect(throws: ConfigError.self) { try config.applyEnvironment(["AUDIO_WORKER_CONCURRENCY": "lots"]) }
    }

    @Test
    func theQueueBackendComesFromTheFileOrTheEnvironment() throws {
        #expect(WorkerConfig().queue == WorkerConfig.Queue())
        #expect(WorkerConfig().queue.backend == .sqlite)
        var config = try WorkerConfig(ConfigFixtures.table("[queue]\nbackend = \"jetstream\"\nreplicas = 3\n"))
        #expect(config.queue.backend == .jetstream)
        #expect(config.queue.replicas == 3)

        try config.applyEnvironment(["AUDIO_WORKER_QUEUE": "sqlite", "AUDIO_WORKER_NATS_REPLICAS": "1"])
        #expect(config.queue.backend == .sqlite)
        #expect(config.queue.replicas == 1)
        try config.applyEnvironment(["AUDIO_WORKER_QUEUE": "JetStream"])
        #expect(config.queue.backend == .jetstream)
        #expect(throws: ConfigError.self) { try config.applyEnvironment(["AUDIO_WORKER_QUEUE": "redis"]) }
        #expect(throws: ConfigError.self) { try config.applyEnvironment(["AUDIO_WORKER_NATS_REPLICAS": "0"]) }
    }

    @Test
    func pmovesStorageAndListenVariablesSelectS3AndTheAddress() throws {
        var config = WorkerConfig()
        #expect(config.storage.backend == .file)

        try config.applyEnvironment([
            "MINIO_ENDPOINT": "minio:9000", "MINIO_SECURE": "true", "AWS_REGION": "eu-west-1",
            "AUDIO_WORKER_LISTEN": "0.0.0.0:8078", "AUDIO_WORKER_BUCKET": "media",
        ])

        #expect(config.storage.backend == .s3)
        #expect(config.storage.endpoint == "minio:9000")
        #expect(config.storage.secure)
        #expect(config.storage.region == "eu-west-1")
        #expect(config.storage.bucket == "media")
        #expect(config.http.listen == "0.0.0.0:8078")
        let key = try config.storage.secretKey.resolve(environment: ["AWS_SECRET_ACCESS_KEY": "from-aws"]).get()
        #expect(key?.reveal() == "from-aws", "the AWS names stand in for MINIO_*")
        #expect(throws: ConfigError.self) { try config.applyEnvironment(["MINIO_SECURE": "sometimes"]) }
        #expect(throws: ConfigError.self) { try config.applyEnvironment(["AUDIO_WORKER_LISTEN": "8078"]) }
    }

    @Test
    func storageAndHTTPTablesAreReadStrictly() throws {
        let config = try WorkerConfig(
            ConfigFixtures.table(
                "[storage]\nbackend = \"s3\"\nendpoint = \"http://s3.local:8333\"\nbucket = \"audio\"\n"
                    + "[http]\nlisten = \"127.0.0.1:9999\"\nmax_body_mb = 8\napi_key_location = \"path::/run/key\"\n"))

        #expect(config.storage.backend == .s3 && config.storage.bucket == "audio")
        #expect(config.http.listen == "127.0.0.1:9999")
        #expect(config.http.maxBodyBytes == 8 << 20)
        #expect(config.http.apiKey == .file("/run/key"))
        #expect(throws: ConfigError.self) {
            try WorkerConfig(ConfigFixtures.table("[storage]\nbucket = \"No_Caps\"\n"))
        }
        #expect(throws: ConfigError.self) { try WorkerConfig(ConfigFixtures.table("[http]\nlisten = \"nowhere\"\n")) }
        #expect(throws: ConfigError.self) { try WorkerConfig(ConfigFixtures.table("[http]\nport = 1\n")) }
    }

    @Test
    func outputPrefixesAreConfigurableAndMustBeSafeKeys() throws {
        let defaults = try WorkerConfig(ConfigFixtures.table(""))
        #expect(defaults.storage.transcriptPrefix == "transcripts/" && defaults.storage.speechPrefix == "speech/")

        let config = try WorkerConfig(
            ConfigFixtures.table("[storage]\ntranscript_prefix = \"pmoves/transcripts/\"\nspeech_prefix = \"tts/\"\n"))

        #expect(config.storage.transcriptPrefix == "pmoves/transcripts/")
        #expect(config.storage.speechPrefix == "tts/")
        for bad in ["../up/", "/absolute/", "a//b/"] {
            #expect(throws: ConfigError.self, "\(bad)") {
                try WorkerConfig(ConfigFixtures.table("[storage]\ntranscript_prefix = \"\(bad)\"\n"))
            }
        }
    }

    @Test
    func apiBaseOverridesAreReadPerModelAndProvider() {
        let overrides = WorkerConfig.apiBaseOverrides([
            "AUDIO_WORKER_API_BASE__whisper_small_local__local": "http://127.0.0.1:9000/v1", "OTHER": "x",
        ])

        #expect(overrides == ["whisper_small_local": ["local": "http://127.0.0.1:9000/v1"]])
    }
}
