import AudioMedia
import CurlHTTP
import Foundation
import PipelineCore
import Testing

/// Everything a provider sends is untrusted: a provider that breaks HTTP or the API in any way becomes a provider
/// failure with its reason, and the chain moves on to one that works. Nothing crashes, nothing hangs.
struct HostileReplyTests {
    /// One way to misbehave, and what the client must make of it.
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var script: [HostileServer.Step]
        /// Words the failure's message must contain.
        var reason: String
        /// The client's timeout: short, for the stalls and drips to outlast; long where 40 MB must arrive first on
        /// a busy machine, so the cap, not the clock, ends the reply.
        var timeout: Duration = .seconds(2)
        var testDescription: String { self.name }
    }

    private static let goodReply = """
        {"task":"transcribe","language":"english","duration":1.0,"text":"fine.",
         "segments":[{"id":0,"seek":0,"start":0.0,"end":1.0,"text":" fine.","tokens":[1],"temperature":0.0,
          "avg_logprob":-0.2,"compression_ratio":1.1,"no_speech_prob":0.01}]}
        """

    static let cases: [Case] = [
        Case(
            name: "a status line that is not HTTP", script: [.send(Data("HELLO THERE\r\n\r\n".utf8))],
            reason: "malformed"),
        Case(name: "nothing at all, then a close", script: [], reason: "connection"),
        Case(
            name: "a reset mid-reply",
            script: [.send(Data("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{\"te".utf8)), .reset],
            reason: "connection"),
        Case(
            name: "a body shorter than its Content-Length",
            script: [.send(Data("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"text\":".utf8))],
            reason: "connection"),
        Case(
            name: "three hundred header lines",
            script: [
                .send(
                    Data(
                        ("HTTP/1.1 200 OK\r\n" + (0..<300).map { "X-H\($0): v\r\n" }.joined() + "\r\n").utf8))
            ], reason: "headers"),
        Case(
            name: "a 100 KB header",
            script: [
                .send(Data(("HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "a", count: 100_000) + "\r\n\r\n").utf8))
            ], reason: "headers"),
        Case(
            name: "an absurd Content-Length",
            script: [.send(Data("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n{}".utf8))],
            reason: "malformed"),
        Case(
            name: "a Content-Length past the reply cap",
            script: [.send(Data("HTTP/1.1 200 OK\r\nContent-Length: 900000000\r\n\r\n{}".utf8))], reason: "larger"),
        Case(
            name: "broken chunked framing",
            script: [.send(Data("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".utf8))],
            reason: "receiving"),
        Case(
            name: "a body over the reply cap, chunked",
            script: [
                .send(Data("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)),
                .send(
                    Data(
                        (0..<40).map { _ in "100000\r\n" + String(repeating: "x", count: 0x100000) + "\r\n" }.joined()
                            .utf8)),
                .send(Data("0\r\n\r\n".utf8)),
            ], reason: "larger", timeout: .seconds(30)),
        Case(
            name: "HTML with a success status", script: [.response(200, body: Data("<html>hi</html>".utf8))],
            reason: "not JSON"),
        Case(name: "JSON of the wrong shape", script: [.json(#"[1, 2, 3]"#)], reason: "not an object"),
        Case(name: "text of the wrong type", script: [.json(#"{"text": 5, "segments": "many"}"#)], reason: "segments"),
        Case(
            name: "segment times that are not numbers",
            script: [.json(#"{"text":"a","segments":[{"start":"soon","end":null,"text":"a"}]}"#)],
            reason: "numeric"),
        Case(
            name: "non-finite numbers",
            script: [.json(#"{"text":"a","segments":[{"start":1e999,"end":-1e999,"text":"a"}]}"#)], reason: "not JSON"),
        Case(
            name: "words of the wrong type",
            script: [.json(#"{"text":"a","words":[{"word":7,"start":0,"end":1}]}"#)], reason: "word"),
        Case(
            name: "a redirect to another host, not followed",
            script: [.response(302, headers: [("Location", "http://203.0.113.7/v1/audio/transcriptions")])],
            reason: "302"),
        Case(
            name: "503 with an absurd Retry-After",
            script: [.response(503, headers: [("Retry-After", "1e30")], body: Data("busy".utf8))], reason: "503"),
        Case(
            name: "429 with a negative Retry-After",
            script: [.response(429, headers: [("Retry-After", "-5")], body: Data("slow down".utf8))], reason: "429"),
        Case(
            name: "429 with a Retry-After that is not a time",
            script: [.response(429, headers: [("Retry-After", "whenever\u{1}")], body: Data("slow".utf8))],
            reason: "429"),
        Case(
            name: "a header with bytes that are not UTF-8",
            script: [
                .send(
                    Data("HTTP/1.1 500 Oops\r\nX-Bad: ".utf8) + Data([0xFF, 0xFE, 0x00, 0xC3])
                        + Data("\r\nContent-Length: 0\r\n\r\n".utf8))
            ],
            reason: "malformed"),
        Case(
            name: "a header with bytes that are not UTF-8, without NUL",
            script: [
                .send(
                    Data("HTTP/1.1 500 Oops\r\nX-Bad: ".utf8) + Data([0xFF, 0xFE, 0xC3])
                        + Data("\r\nContent-Length: 0\r\n\r\n".utf8))
            ],
            reason: "500"),
        Case(name: "a stall after the request", script: [.pause(.seconds(20))], reason: "no response within"),
        Case(
            name: "a one-byte drip that outlasts the timeout",
            script: [
                .drip(
                    Data("HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n{\"text\": \"drip drip drip drip\"}".utf8),
                    every: .milliseconds(150))
            ],
            reason: "no response within"),
    ]

    private static let oneSecond = TranscriptionRequest(
        samples: (0..<16_000).map { Float(sin(Double($0) * 0.1) * 0.2) }, sampleRate: 16_000)

    @Test(arguments: Self.cases)
    func aHostileProviderIsAFailureWithItsReasonAndTheChainFallsBack(_ hostile: Case) async throws {
        let bad = try HostileServer(hostile.script)
        let good = try HostileServer([.json(Self.goodReply)])
        defer {
            bad.stop()
            good.stop()
        }
        let http = CurlHTTPClient()
        let direct = OpenAITranscriptionClient(
            endpoint: URL(string: bad.url + "/v1/audio/transcriptions")!, modelName: "small", apiKey: nil,
            settings: AudioProviderSettings(), timeout: hostile.timeout, http: http, encoder: FFmpegAudioEncoder())

        let started = ContinuousClock.now
        let failure = await #expect(throws: ProviderFailure.self) { try await direct.transcribe(Self.oneSecond) }
        #expect(
            failure?.message.contains(hostile.reason) == true || failure?.description.contains(hostile.reason) == true,
            "\(failure?.description ?? "no failure")")
        #expect(ContinuousClock.now - started < .seconds(60), "the client gives up; it does not hang")

        let function = try TestGateway.localThenCloud(
            local: bad.url + "/v1", cloud: good.url + "/v1", localRetries: 1,
            localTimeoutMilliseconds: Int(hostile.timeout.seconds * 1000))
        var settings = WorkerConfig.Gateway()
        settings.seed = 1
        let chain = AudioGateway(settings: settings, http: http, encoder: FFmpegAudioEncoder(), clock: ManualClock())
            .transcriptionChain(for: function)
        let served = try await chain.transcribe(Self.oneSecond)
        #expect(served.transcript.text == "fine.")
        #expect(served.servedBy?.variant == "cloud", "the chain moved on to the provider that works")
        #expect(served.attempts.first?.outcome == .failed)
    }

    @Test
    func aRedirectIsNeverFollowed() async throws {
        let target = try HostileServer([.json(Self.goodReply)])
        let redirecting = try HostileServer([
            .response(307, headers: [("Location", target.url + "/v1/audio/transcriptions")])
        ])
        defer {
            target.stop()
            redirecting.stop()
        }
        let client = OpenAITranscriptionClient(
            endpoint: URL(string: redirecting.url + "/v1/audio/transcriptions")!, modelName: "small", apiKey: nil,
            settings: AudioProviderSettings(), timeout: .seconds(5), http: CurlHTTPClient(),
            encoder: FFmpegAudioEncoder())

        let failure = await #expect(throws: ProviderFailure.self) { try await client.transcribe(Self.oneSecond) }

        #expect(failure?.status == 307)
        #expect(redirecting.connections == 1)
        #expect(target.connections == 0, "no request went where the redirect pointed")
    }
}
