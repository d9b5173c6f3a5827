import NATSBackend
import PipelineCore
import Testing

struct NATSSettingsTests {
    @Test
    func theEnvironmentNamesTheServerCredentialsAndReplicas() throws {
        let settings = try #require(
            NATSSettings(environment: [
                "NATS_URL": "nats://worker:pw@nats:4222", "NATS_TOKEN": "t0ken", "NATS_CREDS": "/run/worker.creds",
                "AUDIO_WORKER_NATS_REPLICAS": "3",
            ]))
        #expect(settings.url == "nats://worker:pw@nats:4222")
        #expect(settings.token?.reveal() == "t0ken")
        #expect(settings.credentialsFile == "/run/worker.creds")
        #expect(settings.replicas == 3)
    }

    @Test
    func withoutAURLThereIsNoJetStreamAndReplicasDefaultToOne() throws {
        #expect(NATSSettings(environment: ["NATS_TOKEN": "t0ken"]) == nil)
        let settings = try #require(NATSSettings(environment: ["NATS_URL": "nats://nats:4222"]))
        #expect(settings.replicas == 1 && settings.token == nil && settings.credentialsFile == nil)
        #expect(NATSSettings(environment: ["NATS_URL": "x", "AUDIO_WORKER_NATS_REPLICAS": "0"])?.replicas == 1)
    }

    @Test
    func aCommaSeparatedURLIsAClustersSeedList() throws {
        let one = try #require(NATSSettings(environment: ["NATS_URL": "nats://nats:4222"]))
        #expect(one.servers == ["nats://nats:4222"])
        let three = try #require(
            NATSSettings(environment: ["NATS_URL": "nats://a:4222, nats://b:4222,,nats://u:p@c:4222 "]))
        #expect(three.servers == ["nats://a:4222", "nats://b:4222", "nats://u:p@c:4222"])
    }
}
