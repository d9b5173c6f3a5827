import Foundation

/// A response checked against what libmicrohttpd will send, with its body reduced to what the handler queues.
struct PreparedResponse: Sendable {
    /// The body as libmicrohttpd gets it; a stream's chunks go through the ``Exchange`` separately.
    enum Body: Sendable {
        case empty
        case data(Data)
        case file(URL)
        case stream
    }

    var status: Int
    var headers: [(String, String)]
    var body: Body

    /// Checks `response`: a status in 200...999 and header fields libmicrohttpd accepts.
    ///
    /// `Content-Length` and `Transfer-Encoding` are dropped (libmicrohttpd frames the body), and so are fields with
    /// an empty value (libmicrohttpd refuses them).
    init(_ response: HTTPServerResponse) throws(HTTPRejection) {
        guard (200...999).contains(response.status) else {
            throw HTTPRejection.invalidResponse(reason: "status \(response.status) is not in 200...999")
        }
        var headers: [(String, String)] = []
        for (name, value) in response.headers {
            guard Self.isToken(name) else {
                throw HTTPRejection.invalidResponse(reason: "header name '\(name)' is not a token")
            }
            guard !value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                throw HTTPRejection.invalidResponse(reason: "header '\(name)' has a line break")
            }
            if HTTPFields.sameName(name, "Content-Length") || HTTPFields.sameName(name, "Transfer-Encoding")
                || value.isEmpty
            {
                continue
            }
            headers.append((name, value))
        }
        self.status = response.status
        self.headers = headers
        switch response.body {
        case .empty: self.body = .empty
        case .data(let data): self.body = .data(data)
        case .file(let url): self.body = .file(url)
        case .stream, .writer: self.body = .stream
        }
    }

    /// The bytes of this response as one HTTP/1.1 message with `Content-Length` and `Connection: close`, for
    /// writing straight to a socket; nil unless the body is in memory.
    func serialized(reason: String) -> Data? {
        let body: Data
        switch self.body {
        case .empty: body = Data()
        case .data(let data): body = data
        case .file, .stream: return nil
        }
        var head = "HTTP/1.1 \(self.status) \(reason)\r\n"
        for (name, value) in self.headers where !HTTPFields.sameName(name, "Connection") {
            head += "\(name): \(value)\r\n"
        }
        head += "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Data(head.utf8) + body
    }

    private static func isToken(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"):
                    true
                default:
                    "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
    }
}
