import Foundation
import PipelineCore
import Testing

struct GatewayResolverTests {
    static let gateway = """
        [functions.stt.variants.local]
        type = "chat_completion"
        model = "local_whisper"
        retries = { num_retries = 2, max_delay_s = 5 }
        [functions.stt.variants.cloud]
        type = "chat_completion"
        model = "openai::whisper-1"
        [functions.stt.experimentation]
        type = "static"
        candidate_variants = ["local"]
        fallback_variants = ["cloud"]

        [models.local_whisper]
        routing = ["a", "b"]
        timeouts = { non_streaming = { total_ms = 20000 } }
        [models.local_whisper.providers.a]
        type = "openai"
        api_base = "http://127.0.0.1:8000/v1/"
        model_name = "small"
        api_key_location = "none"
        timeouts = { non_streaming.total_ms = 60000 }
        [models.local_whisper.providers.b]
        type = "openai"
        api_base = "http://127.0.0.1:8001/v1"
        model_name = "small"
        api_key_location = "env::LOCAL_KEY"
        """

    @Test
    func resolvesVariantsModelsAndProvidersInRoutingOrder() throws {
        let resolver = try ConfigFixtures.resolver(gateway: Self.gateway, environment: ["LOCAL_KEY": "secret"])

        let function = try resolver.resolve("stt", as: .transcription)

        let local = function.candidates[0].variant
        #expect(local.providers.map(\.name) == ["a", "b"])
        #expect(local.providers[0].endpoint?.absoluteString == "http://127.0.0.1:8000/v1/audio/transcriptions")
        #expect(local.providers[0].timeout == .seconds(20), "the model's timeout is shorter than the provider's")
        #expect(local.providers[1].apiKey?.reveal() == "secret")
        #expect("\(local.providers[1])".contains("secret") == false, "a resolved provider never prints its key")
        let cloud = function.fallbacks[0].providers[0]
        #expect(cloud.type == "openai" && cloud.modelName == "whisper-1")
        #expect(cloud.endpoint?.absoluteString == "https://api.openai.com/v1/audio/transcriptions")
        #expect(cloud.skipReason == "no API key: environment variable OPENAI_API_KEY is not set")
    }

    @Test
    func aMissingKeySkipsOnlyThatProvider() throws {
        let resolver = try ConfigFixtures.resolver(gateway: Self.gateway)

        let providers = try resolver.resolve("stt", as: .transcription).candidates[0].variant.providers

        #expect(providers[0].skipReason == nil)
        #expect(providers[1].skipReason == "no API key: environment variable LOCAL_KEY is not set")
    }

    @Test
    func theWorkerFileAddsAudioSettingsAndExtraVariantsAtTheirPlace() throws {
        let resolver = try ConfigFixtures.resolver(
            gateway: Self.gateway,
            worker: """
                [models.local_whisper.providers.a]
                path = "/inference"
                max_chunk_s = 20
                [models.other]
                routing = ["x"]
                [models.other.providers.x]
                type = "groq"
                model_name = "whisper-large-v3"
                api_key_location = "env::GROQ_API_KEY"
                [functions.stt.variants.groq]
                model = "other"
                position = "before:cloud"
                """, environment: ["GROQ_API_KEY": "g"])

        let function = try resolver.resolve("stt", as: .transcription)

        #expect(
            function.candidates[0].variant.providers[0].endpoint?.absoluteString == "http://127.0.0.1:8000/v1/inference"
        )
        #expect(function.maxChunkSeconds(default: 30) == 20)
        #expect(function.extras.map(\.position) == ["before:cloud"])
        #expect(
            function.extras[0].variant.providers[0].endpoint?.absoluteString
                == "https://api.groq.com/openai/v1/audio/transcriptions")
    }

    @Test
    func maxConcurrencyIsPerProviderWithADefaultAndBounds() throws {
        let resolver = try ConfigFixtures.resolver(
            gateway: Self.gateway, worker: "[models.local_whisper.providers.a]\nmax_concurrency = 1\n")
        let providers = try resolver.resolve("stt", as: .transcription).candidates[0].variant.providers
        #expect(providers[0].settings.maxConcurrency == 1)
        #expect(providers[1].settings.maxConcurrency == nil)

        for bad in ["0", "-1", "\"one\"", "1.5"] {
            #expect(throws: ConfigError.self) {
                try ConfigFixtures.resolver(
                    gateway: Self.gateway, worker: "[models.local_whisper.providers.a]\nmax_concurrency = \(bad)\n"
                ).resolve("stt", as: .transcription)
            }
        }
    }

    @Test
    func theWorkerFileMayShortenAGatewayProvidersTimeout() throws {
        let resolver = try ConfigFixtures.resolver(
            gateway: Self.gateway,
            worker: "[models.local_whisper.providers.a]\ntimeouts = { non_streaming = { total_ms = 3000 } }\n")

        let providers = try resolver.resolve("stt", as: .transcription).candidates[0].variant.providers

        #expect(providers[0].timeout == .seconds(3), "the worker file's timeout was accepted, so it must apply")
        #expect(providers[1].timeout == .seconds(20))

        let model = try ConfigFixtures.resolver(
            gateway: Self.gateway,
            worker: "[models.local_whisper]\ntimeouts = { non_streaming = { total_ms = 5000 } }\n"
        ).resolve("stt", as: .transcription).candidates[0].variant.providers
        #expect(model.map(\.timeout) == [.seconds(5), .seconds(5)], "a model's timeout applies to its providers")
    }

    @Test
    func environmentOverridesAnAPIBase() throws {
        let resolver = try ConfigFixtures.resolver(
            gateway: Self.gateway, environment: ["AUDIO_WORKER_API_BASE__local_whisper__a": "http://127.0.0.1:9999/v1"])

        let provider = try resolver.resolve("stt", as: .transcription).candidates[0].variant.providers[0]

        #expect(provider.endpoint?.absoluteString == "http://127.0.0.1:9999/v1/audio/transcriptions")
    }

    @Test(arguments: [
        (
            "[functions.f.variants.v]\ntype = \"chat_completion\"\nmodel = \"nowhere\"\n", "",
            "tensorzero.toml:1:1: model 'nowhere' of variant 'v' is defined in neither"
        ),
        (
            "[functions.f.variants.v]\nmodel = \"m\"\n[models.m]\nrouting = [\"p\"]\n", "",
            "tensorzero.toml:3:1: routing of model 'm' names provider 'p', which it does not define"
        ),
        (
            "[functions.f.variants.v]\nmodel = \"openai::whisper-1\"\n[functions.f.experimentation]\ncandidate_variants = [\"w\"]\n",
            "",
            "tensorzero.toml:1:1: candidate variant 'w' of function 'f' is not defined"
        ),
        (
            "[functions.f.variants.v]\nmodel = \"openai::whisper-1\"\n",
            "[functions.f.variants.x]\nmodel = \"openai::tts-1\"\nposition = \"after:zz\"\n",
            "audio-worker.toml:1:1: position 'after:zz' names no variant of function 'f'"
        ),
        (
            "[functions.f.variants.v]\nmodel = \"m\"\n[models.m]\nrouting = [\"p\"]\n[models.m.providers.p]\ntype = \"openai\"\n",
            "[models.m.providers.p]\ntype = \"elevenlabs\"\n",
            "audio-worker.toml:1:1: provider 'p' of gateway model 'm': type, model_name and api_key_location belong in the gateway file"
        ),
        ("", "", "tensorzero.toml: function 'f' is not defined"),
    ])
    func brokenReferencesAreErrorsWithTheirLocation(gateway: String, worker: String, expected: String) throws {
        let resolver = try ConfigFixtures.resolver(gateway: gateway, worker: worker)

        do {
            _ = try resolver.resolve("f", as: .transcription)
            Issue.record("no error")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        }
    }

    @Test
    func providersWithoutAnAudioAPIAreSkippedWithAReason() throws {
        let resolver = try ConfigFixtures.resolver(
            gateway: """
                [functions.f.variants.claude]
                model = "anthropic::claude-haiku-4-5"
                [functions.f.variants.best]
                type = "experimental_best_of_n"
                """)

        let function = try resolver.resolve("f", as: .speech)

        let reasons = function.allProviders.compactMap(\.skipReason)
        #expect(reasons.contains("provider type 'anthropic' has no audio API the worker can call"))
        #expect(reasons.contains("variant type 'experimental_best_of_n' cannot serve audio"))
    }
}
