/// How many times, and how far apart, the store repeats a request that failed for a reason that may pass
/// (a connection refused or reset, a timeout, HTTP 5xx, 429, 408, S3's `SlowDown` and `RequestTimeout`).
///
/// Only requests that are safe to repeat are retried: GET, HEAD, single PUTs, listing pages, upload parts and
/// aborts. Starting and completing a multipart upload are not; the job queue retries the whole put instead.
package struct S3RetryPolicy: Sendable {
    /// Tries in all, the first included; 1 turns retries off.
    package var attempts: Int
    /// The wait before the second try; each later wait doubles, up to ``maximumDelay``, with up to half of it
    /// taken off at random so that workers do not retry in step.
    package var initialDelay: Duration
    /// The longest wait between tries.
    package var maximumDelay: Duration

    /// Creates a policy; the defaults try three times over about a second.
    package init(attempts: Int = 3, initialDelay: Duration = .milliseconds(250), maximumDelay: Duration = .seconds(4)) {
        self.attempts = attempts
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    /// The wait after failed try number `attempt` (1-based), before a random cut of up to half.
    func delay(after attempt: Int) -> Duration {
        var delay = self.initialDelay
        for _ in 1..<max(attempt, 1) where delay < self.maximumDelay {
            delay *= 2
        }
        return min(delay, self.maximumDelay)
    }
}
