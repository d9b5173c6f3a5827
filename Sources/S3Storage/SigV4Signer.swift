import Foundation
import PipelineCore

/// One request as AWS Signature Version 4 sees it.
struct SigV4Request: Sendable {
    /// The method, such as `GET`.
    var method: String
    /// The path, already percent-encoded once with ``S3URIEncoding`` (S3 does not encode it twice).
    var encodedPath: String
    /// Query parameters, not encoded; a parameter without a value (`?uploads`) has an empty one.
    var query: [(name: String, value: String)]
    /// Every header to sign, `host` and `x-amz-date` included; a repeated name keeps its values in order.
    var headers: [(name: String, value: String)]
    /// The payload's SHA-256 in lowercase hex, or `UNSIGNED-PAYLOAD`.
    var payloadHash: String
}

/// Computes AWS Signature Version 4 (`AWS4-HMAC-SHA256`) for a request, as the Authorization header carries it.
///
/// The worker signs S3 requests itself rather than through libcurl's `CURLOPT_AWS_SIGV4`, because libcurl 7.88
/// signs the query as written, unsorted and with `?uploads` lacking its `=`, signs header-removal entries such as
/// `Expect:`, and adds no `x-amz-content-sha256`; every one of them fails against S3. Tested against AWS's published
/// vectors.
struct SigV4Signer: Sendable {
    static let algorithm = "AWS4-HMAC-SHA256"
    /// The payload hash that tells S3 the body is not covered by the signature (streamed files).
    static let unsignedPayload = "UNSIGNED-PAYLOAD"
    /// The SHA-256 of no bytes.
    static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    var accessKey: String
    var secretKey: Secret
    var region: String
    var service: String

    /// The `x-amz-date` value (`20130524T000000Z`) and the scope's day (`20130524`) for `date`, in UTC.
    static func timestamp(_ date: Date) -> (dateTime: String, day: String) {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let day = String(format: "%04d%02d%02d", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday))
        let time = String(format: "%02d%02d%02d", Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
        return (day + "T" + time + "Z", day)
    }

    /// The query string in canonical form: names and values encoded, sorted by name then value, `=` always present.
    static func canonicalQuery(_ query: [(name: String, value: String)]) -> String {
        query.map { (S3URIEncoding.encode($0.name), S3URIEncoding.encode($0.value)) }
            .sorted { left, right in
                left.0 == right.0
                    ? left.1.utf8.lexicographicallyPrecedes(right.1.utf8)
                    : left.0.utf8.lexicographicallyPrecedes(right.0.utf8)
            }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// The canonical header lines (`name:value\n` each) and the signed-header list (`host;x-amz-date`).
    static func canonicalHeaders(_ headers: [(name: String, value: String)]) -> (lines: String, signed: String) {
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            values[name.lowercased(), default: []].append(self.trimmed(value))
        }
        let names = values.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let lines = names.map { "\($0):\(values[$0]!.joined(separator: ","))\n" }.joined()
        return (lines, names.joined(separator: ";"))
    }

    /// The canonical request, the text whose hash is signed.
    func canonicalRequest(_ request: SigV4Request) -> String {
        let headers = Self.canonicalHeaders(request.headers)
        return [
            request.method, request.encodedPath, Self.canonicalQuery(request.query), headers.lines, headers.signed,
            request.payloadHash,
        ].joined(separator: "\n")
    }

    /// The string to sign for `request` at `date`.
    func stringToSign(_ request: SigV4Request, at date: Date) -> String {
        let (dateTime, day) = Self.timestamp(date)
        let hash = SHA256.hexHash(Array(self.canonicalRequest(request).utf8))
        return [Self.algorithm, dateTime, self.scope(day: day), hash].joined(separator: "\n")
    }

    /// The signature of `request` at `date`, in lowercase hex.
    func signature(_ request: SigV4Request, at date: Date) -> String {
        let day = Self.timestamp(date).day
        var key = Array(("AWS4" + self.secretKey.reveal()).utf8)
        for part in [day, self.region, self.service, "aws4_request"] {
            key = HMACSHA256.authenticationCode(for: Array(part.utf8), key: key)
        }
        let message = Array(self.stringToSign(request, at: date).utf8)
        return Hex.encode(HMACSHA256.authenticationCode(for: message, key: key))
    }

    /// The Authorization header's value for `request` at `date`.
    func authorization(_ request: SigV4Request, at date: Date) -> String {
        let day = Self.timestamp(date).day
        let signed = Self.canonicalHeaders(request.headers).signed
        return "\(Self.algorithm) Credential=\(self.accessKey)/\(self.scope(day: day)), SignedHeaders=\(signed), "
            + "Signature=\(self.signature(request, at: date))"
    }

    private func scope(day: String) -> String {
        "\(day)/\(self.region)/\(self.service)/aws4_request"
    }

    /// A header value with its ends trimmed and each run of spaces made one, as SigV4 compares them.
    private static func trimmed(_ value: String) -> String {
        var result = ""
        var pendingSpace = false
        for character in value.trimmingCharacters(in: .whitespaces) {
            if character == " " || character == "\t" {
                pendingSpace = true
                continue
            }
            if pendingSpace {
                result.append(" ")
                pendingSpace = false
            }
            result.append(character)
        }
        return result
    }
}
