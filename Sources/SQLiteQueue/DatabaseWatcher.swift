import Foundation
import PipelineCore
import Synchronization

/// Wakes waiting workers when any process writes the queue's database, so an idle worker neither polls nor writes.
///
/// On Linux it watches the database's directory with inotify: every commit in WAL mode writes the `-wal` file (a
/// rollback-journal commit writes the database itself), which the kernel reports at once to whoever watches,
/// whichever process wrote. A dedicated thread waits in `poll(2)` on the inotify descriptor and bumps
/// ``signal``; a pipe ends that wait when the watcher goes away. Reads never write the files, so readers do not
/// wake anyone. Where inotify is missing, ``start(databasePath:)`` returns nil and waits fall back to their timeout.
final class DatabaseWatcher: Sendable {
    /// Bumped after each burst of writes to the database's files.
    let signal = ChangeSignal()
    private let stopDescriptor: Int32

    private init(stopDescriptor: Int32) {
        self.stopDescriptor = stopDescriptor
    }

    deinit {
        // One byte on the pipe ends the thread's poll; the thread closes every descriptor.
        var byte: UInt8 = 1
        _ = write(self.stopDescriptor, &byte, 1)
        close(self.stopDescriptor)
    }

    /// Starts watching the directory of `databasePath`, or returns nil where that is not possible.
    static func start(databasePath: String) -> DatabaseWatcher? {
        #if os(Linux)
            let file = URL(fileURLWithPath: databasePath)
            let directory = file.deletingLastPathComponent().path
            let name = file.lastPathComponent
            let watch = inotify_init1(Int32(IN_CLOEXEC | IN_NONBLOCK))
            guard watch >= 0 else { return nil }
            let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
            guard inotify_add_watch(watch, directory, mask) >= 0 else {
                close(watch)
                return nil
            }
            var pipeEnds: [Int32] = [0, 0]
            guard pipe(&pipeEnds) == 0 else {
                close(watch)
                return nil
            }
            for end in pipeEnds {
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            }
            let watcher = DatabaseWatcher(stopDescriptor: pipeEnds[1])
            let signal = watcher.signal
            let stop = pipeEnds[0]
            let thread = Thread {
                Self.watch(inotify: watch, stop: stop, name: name, signal: signal)
                close(watch)
                close(stop)
            }
            thread.name = "audio-worker.queue-watch"
            thread.stackSize = 256 << 10
            thread.start()
            return watcher
        #else
            return nil
        #endif
    }

    #if os(Linux)
        /// Waits for inotify events naming the database's files and bumps `signal`, until `stop` is readable.
        private static func watch(inotify: Int32, stop: Int32, name: String, signal: ChangeSignal) {
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: 16 << 10, alignment: 8)
            defer { buffer.deallocate() }
            var descriptors = [
                pollfd(fd: inotify, events: Int16(POLLIN), revents: 0),
                pollfd(fd: stop, events: Int16(POLLIN), revents: 0),
            ]
            while true {
                descriptors[0].revents = 0
                descriptors[1].revents = 0
                let ready = poll(&descriptors, 2, -1)
                if ready < 0 {
                    if errno == EINTR { continue }
                    return
                }
                if descriptors[1].revents != 0 {
                    return
                }
                var changed = false
                while true {
                    let count = read(inotify, buffer, 16 << 10)
                    guard count > 0 else { break }
                    var offset = 0
                    while offset + MemoryLayout<inotify_event>.size <= count {
                        let event = buffer.load(fromByteOffset: offset, as: inotify_event.self)
                        let nameStart = buffer + offset + MemoryLayout<inotify_event>.size
                        if event.len > 0 {
                            let entry = String(cString: nameStart.assumingMemoryBound(to: CChar.self))
                            // queue.sqlite, queue.sqlite-wal, queue.sqlite-journal; not -shm, which readers touch.
                            if entry.hasPrefix(name) && !entry.hasSuffix("-shm") {
                                changed = true
                            }
                        }
                        offset += MemoryLayout<inotify_event>.size + Int(event.len)
                    }
                }
                if changed {
                    signal.notify()
                }
            }
        }
    #endif
}
