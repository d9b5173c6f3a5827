internal import CCurl
import Foundation
import PipelineCore
import Synchronization

/// One thread that drives every transfer of a client through libcurl's multi interface.
///
/// However many requests are in flight (four chunks per job, a dozen jobs), they cost one thread, which waits in
/// `curl_multi_poll` and so uses no CPU while providers think. Connections are cached by the multi handle and
/// reused across requests. Other threads only hand work over (under a lock) and wake the loop with
/// `curl_multi_wakeup`, the one multi call libcurl allows from another thread.
final class CurlMultiLoop: Sendable {
    private struct Inbox {
        var starting: [CurlTransfer] = []
        var cancelling: [CurlTransfer] = []
    }

    /// The multi handle, as its address (the pointer type is not `Sendable`); used on the loop thread, except for
    /// `curl_multi_wakeup`.
    private let address: UInt
    private let inbox = Mutex(Inbox())
    /// Transfers the multi handle holds, by easy handle address; touched by the loop thread only.
    private let running = Mutex<[UInt: CurlTransfer]>([:])

    /// The process's loop, made on first use.
    static let shared = CurlMultiLoop()

    /// Creates the multi handle and starts its thread, which lives as long as the process.
    init() {
        CurlGlobal.initialize()
        guard let multi = curl_multi_init() else {
            preconditionFailure("libcurl could not create a multi handle (out of memory)")
        }
        self.address = UInt(bitPattern: multi)
        let thread = Thread { [self] in self.loop() }
        thread.name = "audio-worker.http"
        thread.start()
    }

    private var multi: UnsafeMutableRawPointer { UnsafeMutableRawPointer(bitPattern: self.address)! }

    /// Hands `transfer` to the loop; its continuation is resumed when it finishes or fails.
    func start(_ transfer: CurlTransfer) {
        self.inbox.withLock { $0.starting.append(transfer) }
        curl_multi_wakeup(self.multi)
    }

    /// Stops `transfer` if it is still running; its caller gets `CancellationError`.
    func cancel(_ transfer: CurlTransfer) {
        transfer.markCancelled()
        self.inbox.withLock { $0.cancelling.append(transfer) }
        curl_multi_wakeup(self.multi)
    }

    private func loop() {
        while true {
            self.takeInbox()
            var stillRunning: Int32 = 0
            _ = curl_multi_perform(self.multi, &stillRunning)
            self.collectFinished()
            var timeout = 0
            _ = curl_multi_timeout(self.multi, &timeout)
            // -1: nothing is due; the loop sleeps until work arrives (a minute at most, as a safety net).
            let wait = timeout < 0 ? 60_000 : min(timeout, 60_000)
            _ = curl_multi_poll(self.multi, nil, 0, Int32(wait), nil)
        }
    }

    private func takeInbox() {
        let (starting, cancelling) = self.inbox.withLock { inbox in
            defer { inbox = Inbox() }
            return (inbox.starting, inbox.cancelling)
        }
        for transfer in starting {
            // A caller cancelled before its transfer reached the loop.
            if transfer.isCancelled {
                transfer.fail(CancellationError())
                continue
            }
            let code = curl_multi_add_handle(self.multi, transfer.handle)
            if code == CURLM_OK {
                self.running.withLock { $0[transfer.address] = transfer }
            } else {
                transfer.fail(HTTPClientError.connection(String(cString: curl_multi_strerror(code))))
            }
        }
        for transfer in cancelling {
            guard self.running.withLock({ $0.removeValue(forKey: transfer.address) }) != nil else { continue }
            curl_multi_remove_handle(self.multi, transfer.handle)
            transfer.fail(CancellationError())
        }
    }

    private func collectFinished() {
        var queued: Int32 = 0
        while let message = curl_multi_info_read(self.multi, &queued) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = ccurl_message_result(message)
            let transfer = self.running.withLock { $0.removeValue(forKey: UInt(bitPattern: easy)) }
            curl_multi_remove_handle(self.multi, easy)
            transfer?.finish(code)
        }
    }
}

/// Process-wide libcurl initialisation, done once before any handle exists.
enum CurlGlobal {
    private static let once: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    static func initialize() { _ = self.once }
}
