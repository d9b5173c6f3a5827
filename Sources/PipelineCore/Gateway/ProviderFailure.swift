import Foundation

/// Why one provider request failed, and what the fallback chain should do about it.
package struct ProviderFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    package enum Kind: String, Sendable {
        /// No connection, or it broke.
        case connection
        /// No reply in time.
        case timeout
        /// An HTTP error status.
        case http
        /// A reply that is not what the API promises (bad JSON, wrong shape, not audio).
        case malformedResponse = "malformed_response"
        /// The provider rejected the audio or text itself; another provider would too.
        case badInput = "bad_input"
        /// The request is larger than the provider accepts.
        case tooLarge = "too_large"
        /// The provider's own settings make the request impossible (no voice id, ...).
        case misconfigured
    }

    /// What the chain does next.
    package enum Disposition: Sendable {
        /// Transient: retry with backoff within the variant, then move on.
        case retry
        /// Will not heal by retrying this provider (auth, quota, unknown model): try the next provider now.
        case nextProvider
        /// The input is bad: stop, no other provider is tried.
        case fatal
    }

    /// The kind.
    package var kind: Kind
    /// The HTTP status, for `http` and `badInput` failures.
    package var status: Int?
    /// The provider's message (or ours), trimmed to a few hundred characters.
    package var message: String
    /// The provider's machine-readable error code, such as `insufficient_quota`.
    package var code: String?
    /// How long the provider asked us to wait (`Retry-After`).
    package var retryAfter: Duration?
    /// Request body bytes sent before the failure.
    package var bytesSent = 0

    /// Creates a failure.
    package init(
        _ kind: Kind, status: Int? = nil, message: String, code: String? = nil, retryAfter: Duration? = nil
    ) {
        self.kind = kind
        self.status = status
        self.message = message
        self.code = code
        self.retryAfter = retryAfter
    }

    /// Connection errors, timeouts, 408, 429 and 5xx are retried; 401, 403, 404, 413 and quota errors move on at
    /// once; bad input stops the chain.
    package var disposition: Disposition {
        switch self.kind {
        case .connection, .timeout, .malformedResponse: return .retry
        case .badInput: return .fatal
        case .tooLarge, .misconfigured: return .nextProvider
        case .http:
            guard let status = self.status else { return .retry }
            if status == 429
                && ["insufficient_quota", "quota_exceeded", "billing_hard_limit_reached"].contains(self.code)
            {
                return .nextProvider
            }
            if status == 408 || status == 429 || status >= 500 {
                return .retry
            }
            return .nextProvider
        }
    }

    package var description: String {
        var text = self.kind.rawValue
        if let status = self.status {
            text += " \(status)"
        }
        return "\(text): \(self.message)"
    }

    /// This failure with every appearance of `secret` in its message replaced by `<redacted>`: a provider may echo
    /// the key it was sent ("Incorrect API key provided: ..."), and the message goes to logs and job records.
    package func redacting(_ secret: Secret?) -> ProviderFailure {
        guard let secret, !secret.reveal().isEmpty, self.message.contains(secret.reveal()) else { return self }
        var redacted = self
        redacted.message = self.message.replacingOccurrences(of: secret.reveal(), with: "<redacted>")
        return redacted
    }

    /// Classifies an HTTP error reply, reading the provider's message from the common error body shapes
    /// (OpenAI `{"error":{"message","code"}}`, FastAPI `{"detail":...}`, whisper.cpp `{"error":"..."}`).
    package static func from(response: HTTPResponse) -> ProviderFailure {
        let (message, code, parameter) = Self.errorMessage(in: response.body)
        let text = message ?? Self.snippet(response.body) ?? "HTTP \(response.status) with an empty body"
        let retryAfter = response.header("retry-after").flatMap(Self.parseRetryAfter)
        if [400, 415, 422].contains(response.status) && Self.rejectsInput(text, code: code, parameter: parameter) {
            return ProviderFailure(.badInput, status: response.status, message: text, code: code)
        }
        if response.status == 413 {
            return ProviderFailure(.tooLarge, status: 413, message: text, code: code)
        }
        return ProviderFailure(.http, status: response.status, message: text, code: code, retryAfter: retryAfter)
    }

    /// `Retry-After` as seconds or an HTTP date, capped at a day; nil for a value that is neither, or negative.
    ///
    /// The header is untrusted: an absurd number (`1e30`) is a day, which the chain treats as "too long to wait".
    package static func parseRetryAfter(_ value: String) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        let longest = 86_400.0
        if trimmed.count > 64 {
            // Too long to be a date; a number that long is as absurd as `1e30`.
            return trimmed.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) ? .seconds(longest) : nil
        }
        guard !trimmed.isEmpty else { return nil }
        // RFC 9110 allows digits only; a number in any other notation a server writes (`1.5`, `1e30`) is read too,
        // and one too large for a Double is as absurd as `1e30`.
        if trimmed.first?.isNumber == true,
            trimmed.allSatisfy({ $0.isASCII && ($0.isNumber || ".eE+".contains($0)) })
        {
            guard let seconds = Double(trimmed), !seconds.isNaN else { return nil }
            return .milliseconds(Int64(min(seconds, longest) * 1000))
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .milliseconds(Int64(min(max(date.timeIntervalSinceNow, 0), longest) * 1000))
    }

    /// Whether a 400-class reply says the audio or text itself is bad (so every provider would refuse it),
    /// rather than that a parameter or limit of this provider does not fit (so another provider may take it).
    private static func rejectsInput(_ message: String, code: String?, parameter: String?) -> Bool {
        if ["invalid_audio", "audio_too_short", "empty_audio", "empty_input"].contains(code) {
            return true
        }
        let lowered = message.lowercased()
        let aboutContent = [
            "could not decode", "decode audio", "invalid audio", "corrupt", "empty", "too short", "no audio",
            "invalid file format", "audio file is",
        ].contains { lowered.contains($0) }
        return aboutContent && (parameter == nil || ["file", "input", "text"].contains(parameter))
    }

    /// The message, code and parameter of an error body, in whichever common shape it comes.
    private static func errorMessage(in body: Data) -> (String?, String?, String?) {
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: body) else { return (nil, nil, nil) }
        func string(_ value: JSONValue?) -> String? {
            if case .string(let text) = value { return text }
            return nil
        }
        if let error = json["error"] {
            if let message = string(error) {
                return (Self.trim(message), nil, nil)
            }
            return (
                string(error["message"]).map(Self.trim), string(error["code"]) ?? string(error["type"]),
                string(error["param"])
            )
        }
        if let detail = json["detail"] {
            if let message = string(detail) {
                return (Self.trim(message), nil, nil)
            }
            if let message = string(detail["message"]) {
                return (Self.trim(message), string(detail["status"]) ?? string(detail["error"]), nil)
            }
            if case .array(let items) = detail, let first = items.first, let message = string(first["msg"]) {
                return (Self.trim(message), nil, nil)
            }
        }
        return (nil, nil, nil)
    }

    private static func snippet(_ body: Data) -> String? {
        let text = String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : Self.trim(text)
    }

    private static func trim(_ text: String) -> String {
        let single = text.split(whereSeparator: \.isNewline).joined(separator: " ")
        return single.count > 300 ? String(single.prefix(300)) + "…" : single
    }
}
