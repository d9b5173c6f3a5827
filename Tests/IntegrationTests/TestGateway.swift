import PipelineCore

/// Gateway configurations for integration tests: a function with a `local` candidate and a `cloud` fallback,
/// each one OpenAI-type provider on a loopback server.
enum TestGateway {
    /// Resolves function `f` for `capability`; `local` is retried `localRetries` times, `cloud` needs the key in
    /// `TEST_CLOUD_KEY` (supplied).
    static func localThenCloud(
        local: String, cloud: String, localRetries: Int = 0, localTimeoutMilliseconds: Int = 20000,
        as capability: ResolvedFunction.Capability = .transcription
    ) throws -> ResolvedFunction {
        let gateway = """
            [functions.f.variants.local]
            type = "chat_completion"
            model = "local_model"
            retries = { num_retries = \(localRetries), max_delay_s = 10 }
            [functions.f.variants.cloud]
            type = "chat_completion"
            model = "cloud_model"
            [functions.f.experimentation]
            type = "static"
            candidate_variants = ["local"]
            fallback_variants = ["cloud"]
            [models.local_model]
            routing = ["local"]
            [models.local_model.providers.local]
            type = "openai"
            api_base = "\(local)"
            model_name = "small"
            api_key_location = "none"
            timeouts = { non_streaming.total_ms = \(localTimeoutMilliseconds) }
            [models.cloud_model]
            routing = ["cloud"]
            [models.cloud_model.providers.cloud]
            type = "openai"
            api_base = "\(cloud)"
            model_name = "whisper-1"
            api_key_location = "env::TEST_CLOUD_KEY"
            """
        let resolver = GatewayResolver(
            gateway: try GatewayConfig(
                ConfigTable(TOMLParser.parse(gateway, file: "g.toml"), path: "", file: "g.toml")),
            gatewayFile: "g.toml", worker: WorkerConfig(), workerFile: "w.toml",
            environment: ["TEST_CLOUD_KEY": "sk-test"])
        return try resolver.resolve("f", as: capability)
    }
}
