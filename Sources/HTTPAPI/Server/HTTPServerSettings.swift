import Foundation

/// Where an ``HTTPServer`` listens and the limits it enforces.
package struct HTTPServerSettings: Sendable {
    /// The address to bind: an IPv4 or IPv6 literal (`127.0.0.1`, `0.0.0.0`, `::1`, `::`), or `localhost`.
    ///
    /// `::` accepts IPv4 too (dual stack); other IPv6 addresses accept IPv6 only.
    package var host: String
    /// The TCP port; 0 picks a free one (read it from ``HTTPServer/port``).
    package var port: Int
    /// The largest body accepted; a larger one is answered with 413, before it is read when `Content-Length`
    /// says so, or as soon as a chunked body passes the limit.
    package var maxBodyBytes: Int64
    /// Bodies up to this size are kept in memory; larger ones are streamed to a file in ``scratchDirectory``.
    package var memoryBodyBytes: Int
    /// The largest request line plus headers accepted; larger ones are answered with 431.
    package var maxHeaderBytes: Int
    /// How long a request's head may take, from its first bytes (as the sweeper sees them arrive) to its last header
    /// line. A connection that sends nothing has ``idleTimeout`` instead.
    package var headerTimeout: Duration
    /// How long a body may take to arrive, from the end of the head; a body that takes longer is answered with 408.
    package var bodyTimeout: Duration
    /// How long a connection may wait for the next request to begin (a new connection, or one kept alive after a
    /// response), and how long it may be silent at any point while the server reads or writes.
    package var idleTimeout: Duration
    /// The most connections open at once. At the cap the server stops accepting, so further connections wait in
    /// the kernel's listen queue until one closes.
    package var maxConnections: Int
    /// The most connections one client address may hold at once (0: no cap); past it a new connection from that
    /// address is accepted and closed at once.
    package var maxConnectionsPerAddress: Int
    /// How many threads libmicrohttpd polls sockets with.
    package var threads: Int
    /// Where large bodies are stored while their request is answered.
    package var scratchDirectory: URL

    /// Creates settings; the defaults suit `audio-worker serve`.
    package init(
        host: String = "127.0.0.1", port: Int = 8078, maxBodyBytes: Int64 = 1 << 30, memoryBodyBytes: Int = 1 << 20,
        maxHeaderBytes: Int = 16 << 10, headerTimeout: Duration = .seconds(10), bodyTimeout: Duration = .seconds(300),
        idleTimeout: Duration = .seconds(60), maxConnections: Int = 1024, maxConnectionsPerAddress: Int = 0,
        threads: Int = 2, scratchDirectory: URL = FileManager.default.temporaryDirectory
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.memoryBodyBytes = memoryBodyBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.idleTimeout = idleTimeout
        self.maxConnections = maxConnections
        self.maxConnectionsPerAddress = maxConnectionsPerAddress
        self.threads = threads
        self.scratchDirectory = scratchDirectory
    }

    /// Throws ``HTTPServerError/invalidSettings(_:)`` for a value the server cannot run with.
    func validate() throws(HTTPServerError) {
        func require(_ condition: Bool, _ problem: String) throws(HTTPServerError) {
            if !condition { throw HTTPServerError.invalidSettings(problem) }
        }
        try require((0...65535).contains(self.port), "port \(self.port) is not in 0...65535")
        try require(self.maxBodyBytes >= 0, "maxBodyBytes is negative")
        try require(self.memoryBodyBytes >= 0, "memoryBodyBytes is negative")
        try require(self.maxHeaderBytes >= 1024, "maxHeaderBytes is below 1024")
        try require(self.headerTimeout > .zero, "headerTimeout is not positive")
        try require(self.bodyTimeout > .zero, "bodyTimeout is not positive")
        try require(self.idleTimeout >= .seconds(1), "idleTimeout is below one second")
        try require((1...1_000_000).contains(self.maxConnections), "maxConnections is not in 1...1000000")
        try require(self.maxConnectionsPerAddress >= 0, "maxConnectionsPerAddress is negative")
        try require((1...64).contains(self.threads), "threads is not in 1...64")
        try require(self.threads <= self.maxConnections, "more threads than maxConnections")
    }
}
