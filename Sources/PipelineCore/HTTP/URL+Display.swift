import Foundation

extension URL {
    /// The URL as it may be shown in output, logs and errors: without a user or password, and with the values of
    /// query items whose names suggest a credential (`key`, `token`, `signature`, `password`, `secret`) masked.
    package var redactedForDisplay: String {
        guard var components = URLComponents(url: self, resolvingAgainstBaseURL: false) else {
            return Self.redactingCredentials(in: self.absoluteString)
        }
        if components.user != nil || components.password != nil {
            components.user = nil
            components.password = nil
        }
        let sensitive = ["key", "token", "signature", "password", "secret", "credential"]
        components.queryItems = components.queryItems?.map { item in
            let name = item.name.lowercased()
            guard sensitive.contains(where: { name.contains($0) }) else { return item }
            return URLQueryItem(name: item.name, value: "<redacted>")
        }
        return components.string ?? Self.redactingCredentials(in: self.absoluteString)
    }

    /// `text` with any `user:password@` after a `//` replaced by `<redacted>@`, for URLs that did not parse.
    package static func redactingCredentials(in text: String) -> String {
        guard let slashes = text.range(of: "//"), let at = text[slashes.upperBound...].firstIndex(of: "@") else {
            return text
        }
        let userInfo = text[slashes.upperBound..<at]
        guard !userInfo.contains("/") else { return text }
        return text.replacingCharacters(in: slashes.upperBound..<at, with: "<redacted>")
    }
}
