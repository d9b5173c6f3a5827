import Foundation
import PipelineCore
import Testing

struct GatewayConfigTests {
    static let corpus: [String] = {
        let directory = ConfigFixtures.path("fixtures/tensorzero-configs")
        return ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .filter { $0.hasSuffix(".toml") }.sorted()
    }()

    @Test
    func everyRealTensorZeroFileWithFunctionsLoads() throws {
        var withFunctions = 0
        var variants = 0
        for name in Self.corpus {
            let table = try ConfigTable.load(contentsOf: ConfigFixtures.path("fixtures/tensorzero-configs/\(name)"))
            guard table.contains("functions") else { continue }
            withFunctions += 1
            let config = try GatewayConfig(table)
            #expect(!config.functions.isEmpty, "\(name)")
            variants += config.functions.values.reduce(0) { $0 + $1.variants.count }
        }
        #expect(Self.corpus.count == 110)
        #expect(withFunctions == 79)
        #expect(variants > 200)
    }

    @Test
    func pmovesOwnGatewayFileResolvesFunctionsModelsAndProviders() throws {
        let table = try ConfigTable.load(
            contentsOf: ConfigFixtures.path(
                "fixtures/tensorzero-configs/PMOVES.AI__pmoves__tensorzero__config__tensorzero.toml"))

        let config = try GatewayConfig(table)

        #expect(config.functions["agent_zero"] != nil)
        let provider = try #require(config.models.values.flatMap { $0.providers.values }.first { $0.apiBase != nil })
        #expect(provider.type == "openai")
    }

    @Test
    func theShippedFilesDefineTheTwoAudioFunctions() throws {
        let configuration = try Configuration.load(
            configPath: ConfigFixtures.path("config/audio-worker.toml"), gatewayPath: nil, environment: [:])

        #expect(configuration.gatewayFile?.hasSuffix("config/tensorzero.toml") == true)
        let transcription = try configuration.resolver.resolve("pmoves_yt_transcription", as: .transcription)
        #expect(transcription.candidates.map(\.variant.name) == ["whisper_local"])
        #expect(transcription.fallbacks.map(\.name) == ["whisper_cloud"])
        #expect(transcription.candidates[0].variant.retries == RetrySettings(numRetries: 2, maxDelay: .seconds(10)))
        #expect(transcription.fallbacks[0].providers[0].modelName == "whisper-1")
        #expect(transcription.maxChunkSeconds(default: 30) == 30)
        let speech = try configuration.resolver.resolve("flute_tts_synthesis", as: .speech)
        #expect(speech.candidates.map(\.variant.name) == ["kokoro_local"])
        #expect(speech.fallbacks.map(\.name) == ["openai_tts"])
        #expect(speech.extras.map(\.variant.name) == ["elevenlabs"])
        #expect(speech.extras.first?.variant.providers.first?.type == "elevenlabs")
        #expect(speech.candidates[0].variant.providers[0].settings.voice == "af_heart")
    }

    @Test
    func legacyVariantWeightsMakeZeroWeightVariantsFallbacks() throws {
        let config = try GatewayConfig(
            ConfigFixtures.table(
                """
                [functions.f.variants.a]
                type = "chat_completion"
                model = "openai::whisper-1"
                weight = 0.7
                [functions.f.variants.b]
                type = "chat_completion"
                model = "openai::whisper-1"
                weight = 0
                """))

        #expect(config.functions["f"]?.variants.map(\.weight) == [0.7, 0])
    }

    @Test
    func experimentationAcceptsAListOrWeights() throws {
        let config = try GatewayConfig(
            ConfigFixtures.table(
                """
                [functions.f.experimentation]
                type = "static_weights"
                candidate_variants = { a = 0.7, b = 0.3 }
                fallback_variants = ["c"]
                [functions.g.experimentation]
                candidate_variants = ["a", "b"]
                """))

        #expect(config.functions["f"]?.experimentation?.candidates.map(\.weight) == [0.7, 0.3])
        #expect(config.functions["f"]?.experimentation?.fallbacks == ["c"])
        #expect(config.functions["g"]?.experimentation?.candidates.map(\.weight) == [1, 1])
    }

    @Test(arguments: [
        (
            "[models.m]\nrouting = \"local\"\n",
            "tensorzero.toml:2:1: 'models.m.routing' must be an array of strings, not string"
        ),
        (
            "[models.m.providers.p]\ntype = \"openai\"\napi_key_location = \"env:KEY\"\n",
            "tensorzero.toml:3:1: 'env:KEY' is not a credential location (env::VAR, path::FILE, path_from_env::VAR, dynamic::NAME, sdk or none)"
        ),
        (
            "[functions.f.variants.v]\nretries = { num_retries = -1 }\n",
            "tensorzero.toml:2:13: 'functions.f.variants.v.retries.num_retries' must be from 0 to 100, not -1"
        ),
    ])
    func keysTheWorkerUsesMustHaveTheRightType(document: String, message: String) throws {
        let table = try ConfigFixtures.table(document, file: "tensorzero.toml")

        let error = #expect(throws: ConfigError.self) { _ = try GatewayConfig(table) }

        #expect(error?.description == message)
    }

    @Test
    func sectionsTheWorkerDoesNotUseAreIgnored() throws {
        let config = try GatewayConfig(
            ConfigFixtures.table(
                """
                [gateway]
                bind_address = "0.0.0.0:3000"
                [metrics.task_success]
                type = "boolean"
                [functions.f]
                type = "json"
                output_schema = "schema.json"
                user_template = "t.minijinja"
                """))

        #expect(config.functions["f"]?.type == "json")
    }
}
