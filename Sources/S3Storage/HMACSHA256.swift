import Foundation
import PipelineCore

/// HMAC (RFC 2104) over ``SHA256``, the keyed hash SigV4 derives its signing key and signature with.
enum HMACSHA256 {
    /// The 32-byte authentication code of `message` under `key`.
    static func authenticationCode(for message: some ContiguousBytes, key: some ContiguousBytes) -> [UInt8] {
        var block = key.withUnsafeBytes { [UInt8]($0) }
        if block.count > 64 {
            block = SHA256.hash(block)
        }
        block += [UInt8](repeating: 0, count: 64 - block.count)
        var inner = SHA256()
        inner.update(block.map { $0 ^ 0x36 })
        inner.update(message)
        var outer = SHA256()
        outer.update(block.map { $0 ^ 0x5c })
        outer.update(inner.finalize())
        return outer.finalize()
    }
}
