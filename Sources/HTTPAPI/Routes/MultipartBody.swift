import Foundation
import PipelineCore

/// A `multipart/form-data` body, parsed in place: each part is a byte range of the body (in memory or in the file
/// the server streamed it to), so a 1 GB upload is never held in memory and its file part is copied once.
///
/// Everything about it is untrusted: the boundary, the part count, header sizes, names, and the framing itself.
/// A body that breaks the format is refused with a ``MultipartError`` naming why.
struct MultipartBody: Sendable {
    /// One part: its form field name, the file name and type it declares, and where its bytes are.
    struct Part: Sendable {
        var name: String
        var filename: String?
        var contentType: String?
        var range: Range<Int64>
    }

    /// Why a body is not a valid multipart form.
    struct MultipartError: Error, CustomStringConvertible {
        var description: String
    }

    /// The most parts a form may have.
    static let maxParts = 64
    /// The most bytes of headers one part may have.
    static let maxPartHeaderBytes = 8 << 10

    let body: HTTPRequestBody
    let parts: [Part]

    /// The boundary a `Content-Type: multipart/form-data; boundary=...` header names, or nil.
    static func boundary(fromContentType contentType: String) -> String? {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard pieces.first?.lowercased() == "multipart/form-data" else { return nil }
        for piece in pieces.dropFirst() {
            let pair = piece.split(separator: "=", maxSplits: 1).map(String.init)
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            // RFC 2046: 1 to 70 characters.
            guard (1...70).contains(value.utf8.count), !value.contains("\r"), !value.contains("\n") else { return nil }
            return value
        }
        return nil
    }

    /// Parses `body` with `boundary`.
    init(body: HTTPRequestBody, boundary: String) throws(MultipartError) {
        let reader = BodyReader(body)
        let delimiter = Array(("--" + boundary).utf8)
        let separator = Array(("\r\n--" + boundary).utf8)
        // The body starts with the first delimiter (a preamble before it is allowed and skipped).
        guard var position = reader.find(delimiter, from: 0) else {
            throw MultipartError(description: "the multipart body has no boundary line")
        }
        position += Int64(delimiter.count)
        var parts: [Part] = []
        while true {
            // After a delimiter: "--" ends the body, CRLF starts a part.
            let marker = reader.bytes(at: position, count: 2)
            if marker == Array("--".utf8) {
                break
            }
            guard marker == Array("\r\n".utf8) else {
                throw MultipartError(description: "a multipart boundary is not followed by a line break")
            }
            position += 2
            guard parts.count < Self.maxParts else {
                throw MultipartError(description: "the form has more than \(Self.maxParts) parts")
            }
            guard let headerEnd = reader.find(Array("\r\n\r\n".utf8), from: position, within: Self.maxPartHeaderBytes)
            else {
                throw MultipartError(
                    description: "a part's headers are missing their end or pass \(Self.maxPartHeaderBytes) bytes")
            }
            let header = String(decoding: reader.bytes(at: position, count: Int(headerEnd - position)), as: UTF8.self)
            let contentStart = headerEnd + 4
            guard let contentEnd = reader.find(separator, from: contentStart) else {
                throw MultipartError(description: "the multipart body is truncated: a part has no closing boundary")
            }
            var part = try Self.part(header: header)
            part.range = contentStart..<contentEnd
            parts.append(part)
            position = contentEnd + Int64(separator.count)
        }
        self.body = body
        self.parts = parts
    }

    /// The first part named `name`.
    func part(_ name: String) -> Part? {
        self.parts.first { $0.name == name }
    }

    /// Every part named `name`, in order (`timestamp_granularities[]` repeats).
    func parts(_ name: String) -> [Part] {
        self.parts.filter { $0.name == name }
    }

    /// A text field's value, up to `maxBytes`; longer ones are refused.
    func text(_ name: String, maxBytes: Int = 64 << 10) throws(MultipartError) -> String? {
        guard let part = self.part(name) else { return nil }
        return try self.text(of: part, maxBytes: maxBytes)
    }

    /// Every value of a repeated text field.
    func texts(_ name: String, maxBytes: Int = 1 << 10) throws(MultipartError) -> [String] {
        var values: [String] = []
        for part in self.parts(name) {
            values.append(try self.text(of: part, maxBytes: maxBytes))
        }
        return values
    }

    private func text(of part: Part, maxBytes: Int) throws(MultipartError) -> String {
        let count = part.range.upperBound - part.range.lowerBound
        guard count <= Int64(maxBytes) else {
            throw MultipartError(description: "the form field '\(part.name)' is longer than \(maxBytes) bytes")
        }
        let bytes = BodyReader(self.body).bytes(at: part.range.lowerBound, count: Int(count))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Copies a part's bytes into the new file `destination`.
    func copy(_ part: Part, to destination: URL) throws {
        let output = open(destination.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            throw StorageError.io(key: destination.lastPathComponent, message: String(cString: strerror(errno)))
        }
        defer { close(output) }
        let reader = BodyReader(self.body)
        var offset = part.range.lowerBound
        while offset < part.range.upperBound {
            let count = Int(min(Int64(1 << 20), part.range.upperBound - offset))
            let bytes = reader.bytes(at: offset, count: count)
            guard bytes.count == count else {
                throw StorageError.io(key: destination.lastPathComponent, message: "the upload could not be read")
            }
            let written = bytes.withUnsafeBytes { write(output, $0.baseAddress, $0.count) }
            guard written == count else {
                throw StorageError.io(key: destination.lastPathComponent, message: String(cString: strerror(errno)))
            }
            offset += Int64(count)
        }
    }

    /// Reads a part's `Content-Disposition` (name and filename) and `Content-Type`.
    private static func part(header: String) throws(MultipartError) -> Part {
        var name: String?
        var filename: String?
        var contentType: String?
        for line in header.components(separatedBy: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let field = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch field {
            case "content-disposition":
                for parameter in Self.parameters(value) {
                    switch parameter.key {
                    case "name": name = parameter.value
                    case "filename": filename = parameter.value
                    default: break
                    }
                }
            case "content-type":
                contentType = value
            default:
                continue
            }
        }
        guard let name, !name.isEmpty else {
            throw MultipartError(description: "a form part has no name in its Content-Disposition")
        }
        return Part(name: name, filename: filename, contentType: contentType, range: 0..<0)
    }

    /// The `key=value` parameters after the first `;` of a header value; quoted values may hold `;`.
    private static func parameters(_ value: String) -> [(key: String, value: String)] {
        var result: [(String, String)] = []
        var characters = Substring(value)
        // Skip the disposition type ("form-data").
        guard let first = characters.firstIndex(of: ";") else { return [] }
        characters = characters[characters.index(after: first)...]
        while !characters.isEmpty {
            characters = characters.drop { $0 == " " || $0 == ";" }
            guard let equals = characters.firstIndex(of: "=") else { break }
            let key = characters[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            characters = characters[characters.index(after: equals)...]
            var parsed = ""
            if characters.first == "\"" {
                characters = characters.dropFirst()
                var escaped = false
                while let character = characters.first {
                    characters = characters.dropFirst()
                    if escaped {
                        parsed.append(character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        break
                    } else {
                        parsed.append(character)
                    }
                }
            } else {
                let end = characters.firstIndex(of: ";") ?? characters.endIndex
                parsed = characters[..<end].trimmingCharacters(in: .whitespaces)
                characters = characters[end...]
            }
            result.append((key, parsed))
        }
        return result
    }
}

/// Random access to a request body, in memory or in a file, a bounded window at a time.
private struct BodyReader {
    let body: HTTPRequestBody
    private let file: FileHandle?

    init(_ body: HTTPRequestBody) {
        self.body = body
        if case .file(let url, _) = body {
            self.file = try? FileHandle(forReadingFrom: url)
        } else {
            self.file = nil
        }
    }

    var count: Int64 { self.body.count }

    /// Up to `count` bytes at `offset` (fewer at the end).
    func bytes(at offset: Int64, count: Int) -> [UInt8] {
        guard offset >= 0, count > 0, offset < self.count else { return [] }
        let available = Int(min(Int64(count), self.count - offset))
        switch self.body {
        case .empty:
            return []
        case .memory(let data):
            let start = data.startIndex + Int(offset)
            return Array(data[start..<start + available])
        case .file:
            guard let file = self.file else { return [] }
            do {
                try file.seek(toOffset: UInt64(offset))
                return Array(try file.read(upToCount: available) ?? Data())
            } catch {
                return []
            }
        }
    }

    /// The offset of the first `needle` at or after `start` (and, with `within`, starting no later than that many
    /// bytes after it), scanning in windows of 1 MiB so memory stays small for any body.
    func find(_ needle: [UInt8], from start: Int64, within limit: Int? = nil) -> Int64? {
        let window = 1 << 20
        var offset = start
        let end = limit.map { min(self.count, start + Int64($0) + Int64(needle.count)) } ?? self.count
        while offset < end {
            let chunk = self.bytes(at: offset, count: min(window + needle.count, Int(end - offset)))
            guard chunk.count >= needle.count else { return nil }
            if let index = Self.index(of: needle, in: chunk) {
                return offset + Int64(index)
            }
            // Overlap by the needle's length, so a match across windows is found.
            offset += Int64(chunk.count - needle.count + 1)
        }
        return nil
    }

    private static func index(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard let first = needle.first, haystack.count >= needle.count else { return nil }
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            guard let found = haystack[index...last].firstIndex(of: first) else { return nil }
            if haystack[found..<found + needle.count].elementsEqual(needle) {
                return found
            }
            index = found + 1
        }
        return nil
    }
}
