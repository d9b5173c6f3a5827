import Foundation

/// Encodes values as the JSON the command line prints and the worker stores.
package enum JSONOutput {
    /// Sorted keys and unescaped slashes, so output is stable and readable; `pretty` adds indentation.
    package static func encode(_ value: some Encodable, pretty: Bool = false) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting =
            pretty ? [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted] : [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(JSONLinesLogSink.timestamp(date))
        }
        return try encoder.encode(value)
    }

    /// The JSON text of `value`.
    package static func string(_ value: some Encodable, pretty: Bool = false) throws -> String {
        String(decoding: try self.encode(value, pretty: pretty), as: UTF8.self)
    }
}
