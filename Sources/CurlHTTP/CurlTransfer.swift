internal import CCurl
import Foundation
import PipelineCore
import Synchronization

/// One request on its own easy handle: the options, the callbacks that stream the body in and out, and the
/// continuation its caller waits on.
///
/// It is built on the caller's thread and from then on touched only by the ``CurlMultiLoop`` thread and the C
/// callbacks that thread runs; the mutable parts sit behind a lock all the same, so the type is honestly `Sendable`.
final class CurlTransfer: Sendable {
    /// The most header bytes (all lines together) a reply may send.
    static let maxHeaderBytes = 64 << 10
    /// The most header lines a reply may send.
    static let maxHeaderLines = 200
    /// How much of an error body is kept when the body was meant for a file.
    static let maxErrorBodyBytes = 64 << 10

    private struct State {
        var continuation: CheckedContinuation<HTTPResponse, any Error>?
        var headers: [String: String] = [:]
        var headerBytes = 0
        var headerLines = 0
        var body = Data()
        var received: Int64 = 0
        /// Why a callback stopped the transfer, which curl reports only as a write or read error.
        var failure: HTTPClientError?
        var readOffset: Int64 = 0
        var output: Int32 = -1
        var input: Int32 = -1
        var headerList: UInt = 0
    }

    /// The easy handle, as its address (the pointer type is not `Sendable`); freed in `deinit`.
    let address: UInt
    let request: HTTPRequest
    private let state = Mutex(State())
    private let cancelled = Atomic<Bool>(false)

    /// Creates the handle and sets every option; throws for a request that cannot be sent.
    init(request: HTTPRequest) throws {
        guard let scheme = request.url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw HTTPClientError.invalidRequest("only http and https URLs are sent, not '\(request.url.scheme ?? "")'")
        }
        for (name, value) in request.headers {
            let bad = { (text: String) in text.unicodeScalars.contains { $0 == "\r" || $0 == "\n" || $0 == "\0" } }
            if bad(name) || bad(value) || name.isEmpty || name.contains(":") {
                throw HTTPClientError.invalidRequest("the header '\(name.prefix(40))' is not a valid field")
            }
        }
        guard let handle = curl_easy_init() else {
            throw HTTPClientError.connection("libcurl could not create a handle")
        }
        self.address = UInt(bitPattern: handle)
        self.request = request
        try self.openFiles()
        self.configure(handle)
    }

    deinit {
        let state = self.state.withLock { $0 }
        if state.output >= 0 { close(state.output) }
        if state.input >= 0 { close(state.input) }
        curl_slist_free_all(UnsafeMutablePointer<curl_slist>(bitPattern: state.headerList))
        curl_easy_cleanup(UnsafeMutableRawPointer(bitPattern: self.address))
    }

    /// The handle, for the loop thread's calls.
    var handle: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: self.address)! }

    /// Records that the caller gave up; the loop stops the transfer.
    func markCancelled() { self.cancelled.store(true, ordering: .relaxed) }

    /// Whether the caller gave up.
    var isCancelled: Bool { self.cancelled.load(ordering: .relaxed) }

    /// Stores the caller's continuation; called once, before the handle joins the loop.
    func attach(_ continuation: CheckedContinuation<HTTPResponse, any Error>) {
        self.state.withLock { $0.continuation = continuation }
    }

    /// Resumes the caller with the transfer's outcome for curl's `code`; called once, on the loop thread.
    func finish(_ code: CURLcode) {
        let status = ccurl_response_code(self.handle)
        let (continuation, result) = self.state.withLock {
            state -> (CheckedContinuation<HTTPResponse, any Error>?, Result<HTTPResponse, any Error>) in
            let continuation = state.continuation
            state.continuation = nil
            if state.output >= 0 {
                close(state.output)
                state.output = -1
            }
            let result = Self.outcome(code, status: status, state: state, request: self.request)
            return (continuation, result)
        }
        // A failure, or an error status whose body went to memory, leaves no file behind.
        if case .file(let url, _) = self.request.destination, (try? result.get())?.bodyFile == nil {
            try? FileManager.default.removeItem(at: url)
        }
        continuation?.resume(with: result)
    }

    /// Resumes the caller with `error` (cancellation, or a loop that could not take the handle); called once.
    func fail(_ error: any Error) {
        let continuation = self.state.withLock { state in
            defer { state.continuation = nil }
            if state.output >= 0 {
                close(state.output)
                state.output = -1
            }
            return state.continuation
        }
        if case .file(let url, _) = self.request.destination {
            try? FileManager.default.removeItem(at: url)
        }
        continuation?.resume(throwing: error)
    }

    private static func outcome(
        _ code: CURLcode, status: Int, state: State, request: HTTPRequest
    ) -> Result<HTTPResponse, any Error> {
        if let failure = state.failure {
            return .failure(failure)
        }
        switch code {
        case CURLE_OK:
            var response = HTTPResponse(status: status, headers: state.headers, body: state.body)
            response.bodyBytes = state.received
            if case .file(let url, _) = request.destination, response.isSuccess {
                response.bodyFile = url
                response.body = Data()
            }
            return .success(response)
        case CURLE_OPERATION_TIMEDOUT:
            return .failure(HTTPClientError.timeout(request.timeout))
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT, CURLE_SEND_ERROR,
            CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_SSL_CONNECT_ERROR:
            return .failure(HTTPClientError.connection(Self.message(code)))
        case CURLE_READ_ERROR:
            return .failure(HTTPClientError.file("reading the request body failed"))
        default:
            return .failure(HTTPClientError.malformedResponse(Self.message(code)))
        }
    }

    private static func message(_ code: CURLcode) -> String {
        String(cString: curl_easy_strerror(code)).lowercased()
    }

    private func openFiles() throws {
        if case .file(let url, let offset, let length) = self.request.body {
            let descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw HTTPClientError.file("cannot open \(url.lastPathComponent): \(String(cString: strerror(errno)))")
            }
            self.state.withLock {
                $0.input = descriptor
                $0.readOffset = offset
            }
            guard offset >= 0, length >= 0 else {
                throw HTTPClientError.invalidRequest("a file body needs a non-negative offset and length")
            }
        }
        if case .file(let url, _) = self.request.destination {
            let descriptor = open(url.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw HTTPClientError.file(
                    "cannot create \(url.lastPathComponent): \(String(cString: strerror(errno)))")
            }
            self.state.withLock { $0.output = descriptor }
        }
    }

    private func configure(_ handle: UnsafeMutableRawPointer) {
        let request = self.request
        var list: UnsafeMutablePointer<curl_slist>? = nil
        // An empty "Expect:" stops libcurl waiting up to a second for "100 Continue" before large bodies.
        for line in request.headers.map({ "\($0.key): \($0.value)" }) + ["Expect:"] {
            list = curl_slist_append(list, line)
        }
        self.state.withLock { $0.headerList = UInt(bitPattern: list) }
        let timeout = Int(min(max(request.timeout.seconds * 1000, 1), Double(Int32.max)))
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = ccurl_set_string(handle, CURLOPT_URL, request.url.absoluteString)
        // Untrusted servers: HTTP and HTTPS only, no redirects (a redirect is answered as the 3xx it is), no
        // decompression (no zip bombs), no signals (threads).
        _ = ccurl_set_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        _ = ccurl_set_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        _ = ccurl_set_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = ccurl_set_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_set_long(handle, CURLOPT_TIMEOUT_MS, timeout)
        _ = ccurl_set_long(handle, CURLOPT_CONNECTTIMEOUT_MS, min(timeout, 10_000))
        _ = ccurl_set_long(handle, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        _ = ccurl_set_headers(handle, list)
        _ = ccurl_set_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = ccurl_set_write_callback(handle, curlWrite)
        _ = ccurl_set_pointer(handle, CURLOPT_HEADERDATA, context)
        _ = ccurl_set_header_callback(handle, curlHeader)
        let bodyLength = curl_off_t(request.body.count)
        switch request.method {
        case .get:
            _ = ccurl_set_long(handle, CURLOPT_HTTPGET, 1)
        case .head:
            _ = ccurl_set_long(handle, CURLOPT_NOBODY, 1)
        case .post:
            _ = ccurl_set_long(handle, CURLOPT_POST, 1)
            _ = ccurl_set_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, bodyLength)
        case .put:
            _ = ccurl_set_long(handle, CURLOPT_UPLOAD, 1)
            _ = ccurl_set_offset(handle, CURLOPT_INFILESIZE_LARGE, bodyLength)
        case .delete:
            _ = ccurl_set_string(handle, CURLOPT_CUSTOMREQUEST, "DELETE")
            if bodyLength > 0 {
                _ = ccurl_set_long(handle, CURLOPT_POST, 1)
                _ = ccurl_set_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, bodyLength)
            }
        }
        if request.method == .post || request.method == .put || bodyLength > 0 {
            _ = ccurl_set_pointer(handle, CURLOPT_READDATA, context)
            _ = ccurl_set_read_callback(handle, curlRead)
            _ = ccurl_set_pointer(handle, CURLOPT_SEEKDATA, context)
            _ = ccurl_set_seek_callback(handle, curlSeek)
        }
    }

    // MARK: callbacks, on the loop thread

    /// Takes response body bytes; returns how many were taken (fewer stops the transfer).
    fileprivate func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        let status = ccurl_response_code(self.handle)
        return self.state.withLock { state in
            let limit: Int64
            var toFile = false
            switch self.request.destination {
            case .memory(let maxBytes): limit = Int64(maxBytes)
            case .file(_, let maxBytes):
                toFile = (200..<300).contains(status)
                limit = toFile ? maxBytes : Int64(Self.maxErrorBodyBytes)
            }
            guard state.received + Int64(bytes.count) <= limit else {
                if toFile || self.isMemoryDestination {
                    state.failure = .responseTooLarge(limit)
                    return 0
                }
                // An error body meant for a file: keep its start for the message and drop the rest.
                state.received += Int64(bytes.count)
                return bytes.count
            }
            state.received += Int64(bytes.count)
            if toFile {
                var written = 0
                while written < bytes.count {
                    let result = Glibc.write(state.output, bytes.baseAddress! + written, bytes.count - written)
                    if result < 0 {
                        if errno == EINTR { continue }
                        state.failure = .file("writing the reply failed: \(String(cString: strerror(errno)))")
                        return 0
                    }
                    written += result
                }
            } else {
                state.body.append(contentsOf: bytes)
            }
            return bytes.count
        }
    }

    private var isMemoryDestination: Bool {
        if case .memory = self.request.destination { return true }
        return false
    }

    /// Takes one header line; returns its length, or 0 to stop a reply whose headers are out of bounds.
    fileprivate func header(_ bytes: UnsafeRawBufferPointer) -> Int {
        self.state.withLock { state in
            state.headerBytes += bytes.count
            state.headerLines += 1
            guard state.headerBytes <= Self.maxHeaderBytes, state.headerLines <= Self.maxHeaderLines else {
                state.failure = .malformedResponse(
                    "the reply's headers pass \(Self.maxHeaderLines) lines or \(Self.maxHeaderBytes) bytes")
                return 0
            }
            let line = String(decoding: bytes, as: UTF8.self)
            if line.hasPrefix("HTTP/") {
                // A new status line (after 100 Continue): forget earlier headers.
                state.headers = [:]
                state.headerLines = 1
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].trimmingCharacters(in: .whitespaces).lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                guard !name.isEmpty else { return bytes.count }
                if let earlier = state.headers[name] {
                    state.headers[name] = earlier + ", " + value
                } else {
                    state.headers[name] = value
                }
                if name == "content-length", self.request.method != .head, let declared = Int64(value),
                    declared > self.declaredLimit
                {
                    state.failure = .responseTooLarge(self.declaredLimit)
                    return 0
                }
            }
            return bytes.count
        }
    }

    /// The largest body a success may declare; error bodies for a file destination are cut, not refused.
    private var declaredLimit: Int64 {
        switch self.request.destination {
        case .memory(let maxBytes): Int64(maxBytes)
        case .file(_, let maxBytes): max(maxBytes, Int64(Self.maxErrorBodyBytes))
        }
    }

    /// Fills `buffer` with the next request body bytes; returns how many (0 at the end).
    fileprivate func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        self.state.withLock { state in
            switch self.request.body {
            case .empty:
                return 0
            case .data(let data):
                let start = Int(state.readOffset)
                let count = min(buffer.count, data.count - start)
                guard count > 0 else { return 0 }
                data.copyBytes(
                    to: buffer.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    from: data.startIndex + start..<data.startIndex + start + count)
                state.readOffset += Int64(count)
                return count
            case .file(_, let offset, let length):
                let remaining = offset + length - state.readOffset
                let wanted = Int(min(Int64(buffer.count), max(remaining, 0)))
                guard wanted > 0 else { return 0 }
                let result = pread(state.input, buffer.baseAddress, wanted, off_t(state.readOffset))
                guard result > 0 else {
                    state.failure = .file(
                        result == 0
                            ? "the request body file is shorter than its stated length"
                            : "reading the request body failed: \(String(cString: strerror(errno)))")
                    return Int(CCURL_READFUNC_ABORT)
                }
                state.readOffset += Int64(result)
                return result
            }
        }
    }

    /// Moves the request body back to `offset` from its start (libcurl resends a body on a reused connection).
    fileprivate func seek(to offset: Int64) -> Bool {
        self.state.withLock { state in
            guard offset >= 0, offset <= self.request.body.count else { return false }
            if case .file(_, let start, _) = self.request.body {
                state.readOffset = start + offset
            } else {
                state.readOffset = offset
            }
            return true
        }
    }
}

private func transfer(_ context: UnsafeMutableRawPointer?) -> CurlTransfer? {
    context.map { Unmanaged<CurlTransfer>.fromOpaque($0).takeUnretainedValue() }
}

private let curlWrite: ccurl_data_callback = { data, size, count, context in
    guard let transfer = transfer(context) else { return 0 }
    return transfer.write(UnsafeRawBufferPointer(start: data, count: size * count))
}

private let curlHeader: ccurl_data_callback = { data, size, count, context in
    guard let transfer = transfer(context) else { return 0 }
    return transfer.header(UnsafeRawBufferPointer(start: data, count: size * count))
}

private let curlRead: ccurl_data_callback = { data, size, count, context in
    guard let transfer = transfer(context), let data else { return Int(CCURL_READFUNC_ABORT) }
    return transfer.read(into: UnsafeMutableRawBufferPointer(start: data, count: size * count))
}

private let curlSeek: ccurl_seek_callback = { context, offset, origin in
    guard let transfer = transfer(context), origin == SEEK_SET else { return CCURL_SEEKFUNC_FAIL }
    return transfer.seek(to: Int64(offset)) ? CCURL_SEEKFUNC_OK : CCURL_SEEKFUNC_FAIL
}
