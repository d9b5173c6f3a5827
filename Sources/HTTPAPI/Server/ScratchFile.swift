import Foundation

/// A request body being written to a new file in the scratch directory: the file descriptor's one owner.
///
/// Closing happens in `deinit`; deleting the file is the caller's (the exchange deletes it once its response is done).
/// Only the access handler writes, one call at a time.
final class ScratchFile: Sendable {
    /// Where the file is.
    let url: URL
    private let descriptor: Int32

    /// Creates `upload-<uuid>` in `directory`, readable and writable by this user only.
    init(in directory: URL) throws(HTTPRejection) {
        let url = directory.appendingPathComponent("upload-\(UUID().uuidString)")
        let descriptor = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw HTTPRejection.bodyNotStored(reason: "cannot create \(url.path): \(String(cString: strerror(errno)))")
        }
        self.url = url
        self.descriptor = descriptor
    }

    deinit {
        close(self.descriptor)
    }

    /// Appends `count` bytes from `bytes`.
    func write(_ bytes: UnsafeRawPointer, count: Int) throws(HTTPRejection) {
        var written = 0
        while written < count {
            let result = Foundation.write(self.descriptor, bytes + written, count - written)
            if result < 0 {
                if errno == EINTR { continue }
                throw HTTPRejection.bodyNotStored(reason: String(cString: strerror(errno)))
            }
            written += result
        }
    }
}
