import PipelineCore
import Synchronization

/// One open decode, shared between the consumer's task and the Dispatch thread doing the C work.
final class FFmpegDecodeSession: Sendable {
    private let pipeline: Mutex<DecodePipeline>
    private let blockSamples: Int
    let source: SourceInfo

    init(pipeline: consuming sending DecodePipeline, blockSamples: Int) {
        self.source = pipeline.source
        self.blockSamples = blockSamples
        self.pipeline = Mutex(pipeline)
    }

    /// Decodes the next block off the cooperative pool; nil at the end.
    func next() async throws -> AudioBlock? {
        try Task.checkCancellation()
        return try await runBlocking { cancellation in
            try self.pipeline.withLock { pipeline in
                try pipeline.nextBlock(blockSamples: self.blockSamples, cancellation: cancellation)
            }
        }
    }

    /// What has been decoded and skipped so far.
    var summary: DecodeSummary { self.pipeline.withLock { $0.summary } }
}
