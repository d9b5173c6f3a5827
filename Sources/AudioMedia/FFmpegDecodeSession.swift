import PipelineCore
import Synchronization

/// One open decode, shared between the consumer's task and the pool thread doing the C work.
///
/// While the consumer handles one block the session already decodes the next (one block ahead, never more), so
/// decoding overlaps with whatever the consumer does and memory stays at two blocks.
final class FFmpegDecodeSession: Sendable {
    private typealias Outcome = Result<AudioBlock?, any Error>

    private enum State {
        /// Nothing decoded ahead and nothing running.
        case idle
        /// A block is being decoded; the continuation, if any, is the consumer waiting for it.
        case decoding(CheckedContinuation<Outcome, Never>?)
        /// A block was decoded ahead and waits to be taken.
        case ready(Outcome)
    }

    private let pipeline: Mutex<DecodePipeline>
    private let state = Mutex<State>(.idle)
    private let cancellation = CancellationFlag()
    private let blockSamples: Int
    let source: SourceInfo

    init(pipeline: consuming sending DecodePipeline, blockSamples: Int) {
        self.source = pipeline.source
        self.blockSamples = blockSamples
        self.pipeline = Mutex(pipeline)
    }

    /// The next block (nil at the end); cancelling the calling task stops the decode within a block.
    func next() async throws -> AudioBlock? {
        try Task.checkCancellation()
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                self.take(continuation)
            }
        } onCancel: {
            self.cancellation.cancel()
        }
        let block = try outcome.get()
        if block != nil {
            self.decodeAhead()
        }
        return block
    }

    /// What has been decoded and skipped so far.
    var summary: DecodeSummary { self.pipeline.withLock { $0.summary } }

    /// Hands over a block decoded ahead, or waits for the one being decoded, or starts decoding one.
    private func take(_ continuation: CheckedContinuation<Outcome, Never>) {
        let ready = self.state.withLock { state -> Outcome? in
            switch state {
            case .ready(let outcome):
                state = .idle
                return outcome
            case .decoding:
                state = .decoding(continuation)
                return nil
            case .idle:
                state = .decoding(continuation)
                self.startDecoding()
                return nil
            }
        }
        if let ready {
            continuation.resume(returning: ready)
        }
    }

    /// Starts decoding the following block in the background, unless one is already decoded or running.
    private func decodeAhead() {
        self.state.withLock { state in
            guard case .idle = state else { return }
            state = .decoding(nil)
            self.startDecoding()
        }
    }

    /// Runs one block's decode on a pool thread and delivers it; call with the state set to `.decoding`.
    private func startDecoding() {
        BlockingPool.shared.execute {
            let outcome = Outcome {
                try self.pipeline.withLock { pipeline in
                    try pipeline.nextBlock(blockSamples: self.blockSamples, cancellation: self.cancellation)
                }
            }
            let waiter = self.state.withLock { state -> CheckedContinuation<Outcome, Never>? in
                guard case .decoding(let waiter) = state else { return nil }
                state = waiter == nil ? .ready(outcome) : .idle
                return waiter
            }
            waiter?.resume(returning: outcome)
        }
    }
}
