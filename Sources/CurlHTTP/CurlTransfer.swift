internal import CCurl
import Foundation
import PipelineCore

/// One request on one easy handle: sets the options, runs it, and collects the response.
struct CurlTransfer {
    let handle: UnsafeMutableRawPointer
    let request: HTTPRequest
    let cancellation: CancellationFlag

    /// What libcurl hands the callbacks, by opaque pointer.
    final class Sink {
        var body = Data()
        var headers: [String: String] = [:]
        var overflowed = false
        let limit: Int
        let cancellation: CancellationFlag

        init(limit: Int, cancellation: CancellationFlag) {
            self.limit = limit
            self.cancellation = cancellation
        }
    }

    func perform() throws -> HTTPResponse {
        curl_easy_reset(self.handle)
        let sink = Sink(limit: self.request.maxResponseBytes, cancellation: self.cancellation)
        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        // An empty "Expect:" stops libcurl waiting up to a second for "100 Continue" before large bodies.
        for line in self.request.headers.map({ "\($0.key): \($0.value)" }) + ["Expect:"] {
            headerList = curl_slist_append(headerList, line)
        }
        let timeout = Int(max(self.request.timeout.seconds * 1000, 1))
        let opaque = Unmanaged.passUnretained(sink).toOpaque()
        _ = ccurl_set_string(self.handle, CURLOPT_URL, self.request.url.absoluteString)
        _ = ccurl_set_long(self.handle, CURLOPT_NOSIGNAL, 1)
        _ = ccurl_set_long(self.handle, CURLOPT_TIMEOUT_MS, timeout)
        _ = ccurl_set_long(self.handle, CURLOPT_CONNECTTIMEOUT_MS, min(timeout, 10_000))
        _ = ccurl_set_long(self.handle, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1)
        _ = ccurl_set_headers(self.handle, headerList)
        _ = ccurl_set_pointer(self.handle, CURLOPT_WRITEDATA, opaque)
        _ = ccurl_set_write_callback(self.handle) { data, size, count, context in
            guard let context else { return 0 }
            let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
            guard sink.body.count + size * count <= sink.limit else {
                // Returning less than was offered makes libcurl stop the transfer.
                sink.overflowed = true
                return 0
            }
            if let data {
                sink.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: size * count)
            }
            return size * count
        }
        _ = ccurl_set_pointer(self.handle, CURLOPT_HEADERDATA, opaque)
        _ = ccurl_set_header_callback(self.handle) { data, size, count, context in
            guard let context, let data else { return 0 }
            let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: size * count), as: UTF8.self)
            if line.hasPrefix("HTTP/") {
                // A new status line (after 100 Continue or a redirect): forget earlier headers.
                sink.headers = [:]
            } else if let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                sink.headers[name] = value
            }
            return size * count
        }
        _ = ccurl_set_long(self.handle, CURLOPT_NOPROGRESS, 0)
        _ = ccurl_set_pointer(self.handle, CURLOPT_XFERINFODATA, opaque)
        _ = ccurl_set_progress_callback(self.handle) { context, _, _, _, _ in
            guard let context else { return 0 }
            return Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue().cancellation.isCancelled ? 1 : 0
        }
        let method = self.request.method.uppercased()
        let code: CURLcode = self.request.body.withUnsafeBytes { body in
            if method == "GET" {
                _ = ccurl_set_long(self.handle, CURLOPT_HTTPGET, 1)
            } else {
                if method != "POST" {
                    _ = ccurl_set_string(self.handle, CURLOPT_CUSTOMREQUEST, method)
                }
                _ = ccurl_set_long(self.handle, CURLOPT_POST, 1)
                _ = ccurl_set_offset(self.handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
                _ = ccurl_set_pointer(
                    self.handle, CURLOPT_POSTFIELDS, UnsafeMutableRawPointer(mutating: body.baseAddress))
            }
            return curl_easy_perform(self.handle)
        }
        withExtendedLifetime(sink) {}
        switch code {
        case CURLE_OK:
            return HTTPResponse(status: ccurl_response_code(self.handle), headers: sink.headers, body: sink.body)
        case CURLE_ABORTED_BY_CALLBACK:
            throw CancellationError()
        case CURLE_WRITE_ERROR where sink.overflowed:
            throw HTTPClientError.responseTooLarge(sink.limit)
        case CURLE_OPERATION_TIMEDOUT:
            throw HTTPClientError.timeout(self.request.timeout)
        default:
            throw HTTPClientError.connection(String(cString: curl_easy_strerror(code)).lowercased())
        }
    }
}
