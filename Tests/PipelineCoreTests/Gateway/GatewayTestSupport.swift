import Foundation
import PipelineCore
import Synchronization

/// A speech-to-text fake that answers from a script, one entry per call, and records every call.
final class ScriptedSpeechToText: SpeechToText {
    enum Step: Sendable {
        case succeed(String)
        case fail(ProviderFailure)
    }

    let name: String
    private let state: Mutex<(script: [Step], calls: Int)>
    private let log: CallLog

    init(_ name: String, log: CallLog, script: [Step]) {
        self.name = name
        self.log = log
        self.state = Mutex((script, 0))
    }

    var calls: Int { self.state.withLock { $0.calls } }

    func transcribe(_ request: TranscriptionRequest) async throws -> TranscriptionResult {
        self.log.append(self.name)
        let step = self.state.withLock { state -> Step in
            state.calls += 1
            return state.script.isEmpty ? .succeed(self.name) : state.script.removeFirst()
        }
        switch step {
        case .succeed(let text):
            let transcript = Transcript(
                text: text, segments: [TranscriptSegment(id: 0, start: 0, end: request.duration, text: text)])
            return TranscriptionResult(transcript: transcript, bytesSent: 100)
        case .fail(let failure):
            throw failure
        }
    }
}

/// The order in which fakes were called.
final class CallLog: Sendable {
    private let names = Mutex<[String]>([])

    func append(_ name: String) { self.names.withLock { $0.append(name) } }

    var calls: [String] { self.names.withLock { $0 } }
}

/// Route-building shorthands for chain tests.
enum Routes {
    static func provider(
        _ client: (any SpeechToText)?, named name: String? = nil, model: String, skip: String? = nil,
        maxConcurrency: Int = AudioProviderSettings.defaultMaxConcurrency, cloud: Bool = false
    ) -> RouteProvider<any SpeechToText> {
        RouteProvider(
            model: model, name: name ?? (client as? ScriptedSpeechToText)?.name ?? "skipped", client: client,
            skipReason: skip, maxConcurrency: maxConcurrency, isCloud: cloud)
    }

    static func variant(
        _ name: String, retries: Int = 0, maxDelay: Duration = .seconds(10),
        _ providers: RouteProvider<any SpeechToText>...
    ) -> RouteVariant<any SpeechToText> {
        RouteVariant(
            name: name, retries: RetrySettings(numRetries: retries, maxDelay: maxDelay), timeout: nil,
            providers: providers)
    }

    static let request = TranscriptionRequest(samples: [Float](repeating: 0, count: 16_000), sampleRate: 16_000)

    static func http(_ status: Int, retryAfter: Duration? = nil, code: String? = nil) -> ProviderFailure {
        ProviderFailure(.http, status: status, message: "status \(status)", code: code, retryAfter: retryAfter)
    }
}
