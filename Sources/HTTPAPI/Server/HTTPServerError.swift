/// Why an ``HTTPServer`` could not start or run.
package enum HTTPServerError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A setting is out of range; the payload says which and why.
    case invalidSettings(String)
    /// The host is not an IP address literal (or `localhost`).
    case invalidAddress(String)
    /// libmicrohttpd could not start on `address` (`127.0.0.1:8078`); `reason` is what it reported
    /// (`Failed to bind to port 8078: Address already in use`).
    case startFailed(address: String, reason: String)
    /// ``HTTPServer/run()`` was called a second time.
    case alreadyRunning

    /// The error as a sentence, with its context.
    package var description: String {
        switch self {
        case .invalidSettings(let problem): "invalid HTTP server settings: \(problem)"
        case .invalidAddress(let host): "cannot listen on '\(host)': not an IP address"
        case .startFailed(let address, let reason): "cannot listen on \(address): \(reason)"
        case .alreadyRunning: "the HTTP server is already running"
        }
    }
}
