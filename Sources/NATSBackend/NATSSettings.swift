import Foundation
import PipelineCore

/// Where the JetStream backend connects and what it names: server, credentials, stream, consumer, bucket, replicas.
package struct NATSSettings: Sendable, Equatable {
    /// The server, e.g. `nats://user:password@host:4222` (user and password in the URL are honoured), or several
    /// separated by commas (a cluster's seed list).
    package var url: String
    /// A token for token authentication, if the server wants one.
    package var token: Secret?
    /// A `.creds` file (user JWT and seed) for decentralized authentication.
    package var credentialsFile: String?
    /// The work-queue stream holding one message per runnable job.
    package var stream: String
    /// The durable pull consumer every worker shares.
    package var consumer: String
    /// The KV bucket holding the job ledger.
    package var bucket: String
    /// How many servers keep the stream, the consumer and the bucket (1 on a single server).
    package var replicas: Int
    /// JetStream's own limit on deliveries of one message (leases, expiries and releases all count), past which
    /// the server stops and the job is recorded dead. Kept above any job's attempts so the ledger decides first.
    package var maxDeliveries: Int

    /// The servers `url` names: one URL, or a comma-separated seed list of a cluster's servers.
    package var servers: [String] {
        self.url.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The stream that keeps the server's max-deliveries advisories for the consumer, so that one sent while no
    /// worker listened is still found.
    package var advisoryStream: String { self.stream + "_ADVISORIES" }

    /// The subject of the server's advisory that the consumer stopped delivering a message.
    package var advisorySubject: String {
        "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.\(self.stream).\(self.consumer)"
    }

    /// The subjects the stream takes: one per job kind.
    package static let subjects = ["audio.transcribe.request.v1", "audio.tts.request.v1"]

    /// Creates settings; the defaults suit one local server.
    package init(
        url: String = "nats://127.0.0.1:4222", token: Secret? = nil, credentialsFile: String? = nil,
        stream: String = "AUDIO_JOBS", consumer: String = "audio-worker", bucket: String = "audio_jobs",
        replicas: Int = 1, maxDeliveries: Int = 20
    ) {
        self.url = url
        self.token = token
        self.credentialsFile = credentialsFile
        self.stream = stream
        self.consumer = consumer
        self.bucket = bucket
        self.replicas = replicas
        self.maxDeliveries = maxDeliveries
    }

    /// Reads `NATS_URL`, `NATS_TOKEN`, `NATS_CREDS` and `AUDIO_WORKER_NATS_REPLICAS`; nil when `NATS_URL` is unset.
    package init?(environment: [String: String]) {
        guard let url = environment["NATS_URL"], !url.isEmpty else { return nil }
        self.init(url: url)
        if let token = environment["NATS_TOKEN"], !token.isEmpty { self.token = Secret(token) }
        if let creds = environment["NATS_CREDS"], !creds.isEmpty { self.credentialsFile = creds }
        if let replicas = environment["AUDIO_WORKER_NATS_REPLICAS"].flatMap(Int.init), replicas > 0 {
            self.replicas = replicas
        }
    }

    /// The kind of jobs `subject` carries, or nil for another subject.
    static func kind(forSubject subject: String) -> JobKind? {
        JobKind.allCases.first { self.subject(for: $0) == subject }
    }

    /// The subject that carries jobs of `kind`.
    static func subject(for kind: JobKind) -> String {
        switch kind {
        case .transcribe: self.subjects[0]
        case .synthesize: self.subjects[1]
        }
    }
}
