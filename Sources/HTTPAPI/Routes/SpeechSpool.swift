import Foundation
import PipelineCore
import Synchronization

/// Encoded speech on its way to a client that may read slower than it is made (a player reads at playback pace,
/// synthesis runs twenty times faster): the bytes go to a scratch file as they are encoded, and the client is sent
/// from that file, so memory holds a block or two whatever the client's pace.
final class SpeechSpool: Sendable {
    /// How the audio ended.
    enum End: Sendable, Equatable {
        /// Every piece was spoken and the container finished.
        case complete
        /// The synthesis stopped midway; the client must not get a body that looks whole.
        case failed
    }

    private struct State {
        var written = 0
        var end: End?
    }

    private let file: URL
    private let output: FileHandle
    private let input: FileHandle
    private let state = Mutex(State())
    private let changes = ChangeSignal()

    /// Creates an empty spool file in `directory`.
    init(directory: URL) throws {
        self.file = directory.appendingPathComponent("audio-worker-speech-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: self.file.path, contents: nil) else {
            throw APIError(500, "no scratch space for streamed speech")
        }
        do {
            self.output = try FileHandle(forWritingTo: self.file)
            self.input = try FileHandle(forReadingFrom: self.file)
        } catch {
            try? FileManager.default.removeItem(at: self.file)
            throw APIError(500, "no scratch space for streamed speech")
        }
    }

    /// Appends encoded bytes.
    func append(_ data: Data) throws {
        guard !data.isEmpty else { return }
        try self.output.write(contentsOf: data)
        self.state.withLock { $0.written += data.count }
        self.changes.notify()
    }

    /// Marks the end; later appends are not expected.
    func close(_ end: End) {
        self.state.withLock { state in
            state.end = state.end ?? end
        }
        self.changes.notify()
    }

    /// Up to `limit` bytes from `offset`, waiting until there are some; empty data and the end once everything
    /// written has been read. Throws `CancellationError` when the task is cancelled.
    func read(from offset: Int, limit: Int) async throws -> (data: Data, end: End?) {
        while true {
            let seen = self.changes.generation
            let (written, end) = self.state.withLock { ($0.written, $0.end) }
            if offset < written {
                try self.input.seek(toOffset: UInt64(offset))
                let data = try self.input.read(upToCount: min(limit, written - offset)) ?? Data()
                return (data, nil)
            }
            if let end {
                return (Data(), end)
            }
            await self.changes.wait(after: seen)
            try Task.checkCancellation()
        }
    }

    /// Closes and deletes the file.
    func remove() {
        try? self.output.close()
        try? self.input.close()
        try? FileManager.default.removeItem(at: self.file)
    }
}
