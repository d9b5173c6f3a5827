internal import CMicroHTTPD
import Foundation

/// An owned `MHD_Response`: our reference is dropped in `deinit` (libmicrohttpd keeps its own while it sends).
struct MHDResponse: ~Copyable {
    let pointer: OpaquePointer

    /// Creates the response object for `body`; a stream reads its chunks from `exchange`.
    init(_ body: PreparedResponse.Body, streamingFrom exchange: Exchange) throws(HTTPRejection) {
        let created: OpaquePointer?
        switch body {
        case .empty:
            created = MHD_create_response_from_buffer(0, nil, .RESPMEM_PERSISTENT)
        case .data(let data):
            created = data.withUnsafeBytes { bytes in
                MHD_create_response_from_buffer(
                    bytes.count, UnsafeMutableRawPointer(mutating: bytes.baseAddress), .RESPMEM_MUST_COPY)
            }
        case .file(let url):
            created = try Self.fileResponse(url)
        case .stream:
            let context = Unmanaged.passRetained(exchange)
            created = MHD_create_response_from_callback(
                CMHD_SIZE_UNKNOWN, 64 << 10,
                { context, _, buffer, capacity in
                    guard let context, let buffer else { return CMHD_CONTENT_READER_END_WITH_ERROR }
                    let exchange = Unmanaged<Exchange>.fromOpaque(context).takeUnretainedValue()
                    return exchange.readStream(into: buffer, capacity: capacity)
                }, context.toOpaque(),
                { context in
                    // libmicrohttpd destroyed the response: drop the reference the reader held.
                    guard let context else { return }
                    Unmanaged<Exchange>.fromOpaque(context).release()
                })
            if created == nil { context.release() }
        }
        guard let created else {
            throw HTTPRejection.invalidResponse(reason: "libmicrohttpd could not create the response")
        }
        self.pointer = created
    }

    deinit {
        MHD_destroy_response(self.pointer)
    }

    /// Adds a header field; false if libmicrohttpd refused it.
    func addHeader(_ name: String, _ value: String) -> Bool {
        MHD_add_response_header(self.pointer, name, value) == .YES
    }

    /// Queues the response on `connection`; false if libmicrohttpd refused (wrong state, wrong thread).
    func queue(on connection: OpaquePointer, status: Int) -> Bool {
        MHD_queue_response(connection, UInt32(status), self.pointer) == .YES
    }

    /// A response sending the file at `url` with `sendfile`; libmicrohttpd owns and closes the descriptor.
    private static func fileResponse(_ url: URL) throws(HTTPRejection) -> OpaquePointer? {
        let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw HTTPRejection.invalidResponse(
                reason: "cannot open \(url.path): \(String(cString: strerror(errno)))")
        }
        var status = stat()
        guard fstat(descriptor, &status) == 0,
            let response = MHD_create_response_from_fd64(
                UInt64(status.st_size), descriptor)
        else {
            close(descriptor)
            throw HTTPRejection.invalidResponse(reason: "cannot send \(url.path)")
        }
        return response
    }
}
