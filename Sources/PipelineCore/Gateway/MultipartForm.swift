import Foundation

/// A `multipart/form-data` body, built in memory.
package struct MultipartForm: Sendable {
    /// The boundary between parts.
    package let boundary: String
    private var body = Data()

    /// Creates an empty form with a random boundary.
    package init(boundary: String = "audio-worker-\(UUID().uuidString)") {
        self.boundary = boundary
    }

    /// The `Content-Type` header value.
    package var contentType: String { "multipart/form-data; boundary=\(self.boundary)" }

    /// Adds a text field.
    package mutating func add(_ name: String, _ value: String) {
        self.body.append(Data("--\(self.boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n".utf8))
        self.body.append(Data(value.utf8))
        self.body.append(Data("\r\n".utf8))
    }

    /// Adds a file field.
    package mutating func addFile(_ name: String, filename: String, contentType: String, data: Data) {
        self.body.append(
            Data(
                ("--\(self.boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"; filename=\"\(filename)\"\r\n"
                    + "Content-Type: \(contentType)\r\n\r\n").utf8))
        self.body.append(data)
        self.body.append(Data("\r\n".utf8))
    }

    /// The finished body, with the closing boundary.
    package var encoded: Data {
        var result = self.body
        result.append(Data("--\(self.boundary)--\r\n".utf8))
        return result
    }
}
