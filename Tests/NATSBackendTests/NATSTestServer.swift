import Foundation
import NATSBackend
import PipelineCore
import TestSupport

/// Runs `body` with a fresh `nats-server -js` of its own, stopped (and its store removed) afterwards.
///
/// Each test gets its own server because the stream's subjects are fixed, and two streams may not share subjects.
func withNATSServer<T>(
    arguments: [String] = [], _ body: (NATSServer) async throws -> T
) async throws -> T {
    let server = try await NATSServer.start(extraArguments: arguments)
    defer { server.stop() }
    return try await body(server)
}

extension NATSServer {
    /// Opens the JetStream queue on this server with the default names, so that two calls share one stream,
    /// consumer and bucket (two "processes").
    func openQueue(
        visibility: Duration = .seconds(1), maxAttempts: Int = 3, maxDeliveries: Int = 20,
        url: String? = nil
    ) async throws -> JetStreamJobQueue {
        var settings = NATSSettings(url: url ?? self.url)
        settings.maxDeliveries = maxDeliveries
        return try await JetStreamJobQueue.open(settings: settings, visibility: visibility, maxAttempts: maxAttempts)
    }
}

/// A transcription request for the tests.
func transcription(_ name: String, key: String? = nil, maxAttempts: Int? = nil) -> EnqueueRequest {
    EnqueueRequest(
        payload: .transcription(TranscriptionJobSpec(input: "media/\(name).mp3", outputPrefix: "transcripts/\(name)")),
        idempotencyKey: key, maxAttempts: maxAttempts)
}
