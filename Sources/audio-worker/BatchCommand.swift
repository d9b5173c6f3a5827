import AudioMedia
import Foundation
import PipelineCore
import SQLiteQueue

/// `audio-worker batch SOURCE`: transcribes every matching media file of a directory or storage prefix through
/// the queue, resumably: each file's job has an idempotency key from its source and the settings, files whose
/// outputs exist are skipped, and an interrupted run picks up where it stopped when run again.
enum BatchCommand: Command {
    static let name = "batch"
    static let summary = "reprocess an archive (a directory or a storage prefix) through the queue, resumably"
    static let usage = """
        audio-worker batch SOURCE [--include GLOB]... [--concurrency N] [--force] [--formats json,srt,vtt,txt]
               [--language CODE] [--function NAME]
        (SOURCE is a directory, whose files are read in place, or a prefix of keys in the store)
        """
    static let specification = CommandLineArguments.Specification(
        valueOptions: ["--include", "--concurrency", "--formats", "--language", "--function"], flags: ["--force"])

    static let defaultPatterns = [
        "*.mp3", "*.wav", "*.m4a", "*.mp4", "*.mkv", "*.webm", "*.ogg", "*.opus", "*.flac", "*.aac", "*.mov", "*.wma",
    ]

    /// One input of the batch.
    private struct Item: Sendable {
        var name: String
        var input: String
        var outputPrefix: String
        var seconds: Double?
        var jobID: String?
        var skipped = false
    }

    static func run(_ arguments: CommandLineArguments, context: CommandContext) async throws -> Int32 {
        HeapTrim.limitArenas()
        let source = try arguments.operands(named: "SOURCE", minimum: 1, maximum: 1)[0]
        let environment = try await WorkerEnvironment.open(context)
        let options = try TranscriptionOptions(arguments, defaults: environment.configuration.worker.transcription)
        let formats = options.formats
        let language = options.language
        let function = arguments.value("--function")
        let patterns = arguments.values("--include").isEmpty ? self.defaultPatterns : arguments.values("--include")
        let force = arguments.flag("--force")
        let console = context.console

        // `s3://BUCKET/PREFIX` names a bucket and a prefix in it; a bare prefix is in the default bucket; a
        // directory is read in place.
        let (bucket, prefix) = try Self.bucketAndPrefix(source, defaultBucket: environment.defaultBucket)
        let store = try environment.storage.bucket(bucket)
        var items = try await self.discover(
            prefix, patterns: patterns, store: store,
            outputsUnder: environment.configuration.worker.storage.transcriptPrefix)
        guard !items.isEmpty else {
            console.diagnostic("audio-worker batch: nothing in '\(source)' matches \(patterns.joined(separator: " "))")
            return 0
        }
        // Every run of a forced batch is new work; otherwise the same file and settings map to the same job.
        let forceNonce = force ? "\(Date().timeIntervalSince1970)" : ""
        for index in items.indices {
            let item = items[index]
            if !force, try await store.exists("\(item.outputPrefix).json") {
                items[index].skipped = true
                continue
            }
            let key =
                "batch:"
                + StableHash.hex([
                    bucket, item.input, formats.map(\.rawValue).joined(separator: ","), language ?? "", function ?? "",
                    forceNonce,
                ])
            let spec = TranscriptionJobSpec(
                bucket: bucket, input: item.input, language: language, function: function,
                formats: formats.map(\.rawValue), outputPrefix: item.outputPrefix)
            let (job, _) = try await environment.control.submit(
                EnqueueRequest(payload: .transcription(spec), idempotencyKey: key, origin: .commandLine))
            if job.status == .dead || job.status == .cancelled {
                // A file that failed in an earlier run is tried again.
                items[index].jobID = try await environment.control.retry(id: job.id).id
            } else {
                items[index].jobID = job.id
            }
        }

        let shutdown = ShutdownSignal()
        let sources = SignalHandling.install(shutdown) { exit(130) }
        defer { withExtendedLifetime(sources) {} }
        await environment.repairQueue(logger: .silent)
        // Events go where serve's go (NATS when NATS_URL is set), so PMOVES hears a reprocessed archive too; the
        // forwarder starts first and stops last.
        let (events, nats) = environment.eventForwarder(logger: .silent)
        let workerShutdown = ShutdownSignal()
        let worker = environment.worker(
            concurrency: try arguments.integer("--concurrency", in: 1...256), drain: false, drainWait: .zero,
            logger: .silent, shutdown: workerShutdown, nats: nats)
        let group = ServiceGroup(
            [events, ServiceGroup.Member(worker, shutdown: workerShutdown)], shutdown: shutdown,
            grace: environment.configuration.worker.worker.shutdownGrace, logger: .silent)
        // Subscribed before the worker starts, so no change to the batch's jobs is missed.
        let subscription = environment.events.subscribe()
        var jobs: [String: Job] = [:]
        for id in items.compactMap(\.jobID) {
            jobs[id] = try await environment.queue.job(id: id)
        }
        let batch = items
        let started = ContinuousClock.now
        let progress = ProgressLine(console: console)
        let initial = jobs
        let finalJobs = try await withThrowingTaskGroup(of: [String: Job].self) { tasks in
            tasks.addTask {
                try await group.run()
                return [:]
            }
            tasks.addTask {
                // Follow the batch's jobs as the worker reports them; stop it once every one is settled.
                var jobs = initial
                progress.update(self.progressText(items: batch, jobs: jobs, started: started))
                if jobs.values.allSatisfy({ !$0.status.isActive }) {
                    shutdown.request()
                    return jobs
                }
                for await event in subscription.events where jobs[event.job.id] != nil {
                    jobs[event.job.id] = event.job
                    progress.update(self.progressText(items: batch, jobs: jobs, started: started))
                    if jobs.values.allSatisfy({ !$0.status.isActive }) {
                        break
                    }
                }
                shutdown.request()
                return jobs
            }
            var latest: [String: Job] = [:]
            for try await result in tasks {
                if result.isEmpty {
                    // The worker stopped (done, or interrupted): whatever the watcher has seen is final.
                    subscription.finish()
                } else {
                    latest = result
                }
            }
            return latest
        }
        progress.update(self.progressText(items: items, jobs: finalJobs, started: started), force: true)
        return self.report(
            items: items, jobs: finalJobs, console: console,
            interrupted: shutdown.isRequested
                && finalJobs.values.contains { $0.status.isActive })
    }

    /// The files of a directory (read in place), or the keys under a storage prefix, that match `patterns`.
    private static func discover(
        _ source: String, patterns: [String], store: any ObjectStore, outputsUnder prefix: String
    ) async throws -> [Item] {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue {
            let root = URL(fileURLWithPath: source, isDirectory: true).standardizedFileURL
            let base = root.path == "/" ? "root" : root.lastPathComponent
            var items: [Item] = []
            let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey])
            while let file = walker?.nextObject() as? URL {
                guard (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
                let relative = String(file.standardizedFileURL.path.dropFirst(root.path.count + 1))
                guard Glob.matchesAny(patterns, relative) else { continue }
                let seconds = try? await FFmpegAudioDecoder().probe(file, limits: MediaLimits()).duration
                items.append(
                    Item(
                        name: relative, input: file.absoluteString,
                        outputPrefix: JobInputs.outputPrefix(forKey: "batch/\(base)/\(relative)", under: prefix),
                        seconds: seconds ?? nil))
            }
            return items.sorted { $0.name < $1.name }
        }
        do {
            try StorageKey.validatePrefix(source)
        } catch {
            throw UsageError("'\(source)' is neither a directory nor a storage prefix (\(error))")
        }
        return try await store.list(prefix: source).filter { Glob.matchesAny(patterns, $0) }.map { key in
            Item(name: key, input: key, outputPrefix: JobInputs.outputPrefix(forKey: key, under: prefix))
        }
    }

    /// The bucket and key prefix `source` names: `s3://BUCKET/PREFIX`, or a prefix (or directory) in the default.
    static func bucketAndPrefix(_ source: String, defaultBucket: String) throws(UsageError) -> (String, String) {
        guard source.hasPrefix("s3://") else { return (defaultBucket, source) }
        let rest = source.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        let prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        do {
            try BucketName.validate(bucket)
        } catch {
            throw UsageError("'\(source)': \(error)")
        }
        return (bucket, prefix)
    }

    private static func progressText(items: [Item], jobs: [String: Job], started: ContinuousClock.Instant) -> String {
        let total = items.count
        let skipped = items.filter(\.skipped).count
        let finished = jobs.values.filter { !$0.status.isActive }
        let failed = finished.filter { $0.status != .succeeded }.count
        let done = skipped + finished.count
        let hoursTotal = items.compactMap(\.seconds).reduce(0, +) / 3600
        var hoursDone = items.filter(\.skipped).compactMap(\.seconds).reduce(0, +) / 3600
        for job in finished where job.status == .succeeded {
            if case .number(let seconds) = job.result?["duration"] {
                hoursDone += seconds / 3600
            }
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let worked = finished.count
        let remaining = total - done
        var eta = "?"
        if worked > 0 && remaining > 0 {
            eta = Self.clock(elapsed / Double(worked) * Double(remaining))
        } else if remaining == 0 {
            eta = "0:00"
        }
        let width = 24
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        return "[\(bar)] files \(done)/\(total) (\(failed) failed), audio "
            + String(format: "%.2f/%.2f h", hoursDone, hoursTotal) + ", elapsed \(Self.clock(elapsed)), ETA \(eta)"
    }

    private static func clock(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return "\(whole / 60):" + String(format: "%02d", whole % 60)
    }

    /// Prints the summary table; returns 1 when any file failed (or the batch was interrupted), else 0.
    private static func report(items: [Item], jobs: [String: Job], console: Console, interrupted: Bool) -> Int32 {
        var rows: [(String, String, String)] = []
        var counts: [String: Int] = [:]
        for item in items {
            let status: String
            var detail = ""
            if item.skipped {
                status = "skipped"
                detail = "outputs exist (use --force to redo)"
            } else if let id = item.jobID, let job = jobs[id] {
                status = job.status.rawValue
                detail = job.status == .succeeded ? job.outputs.first ?? "" : job.error?.message ?? ""
                // The file is named in the first column already.
                if detail.hasPrefix(item.input + ": ") {
                    detail.removeFirst(item.input.count + 2)
                }
            } else {
                status = "unknown"
            }
            counts[status, default: 0] += 1
            rows.append((item.name, status, String(detail.prefix(120))))
        }
        let nameWidth = min(max(rows.map(\.0.count).max() ?? 4, 4), 60)
        console.output("FILE".padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  STATUS     DETAIL")
        for (name, status, detail) in rows {
            console.output(
                String(name.prefix(nameWidth)).padding(toLength: nameWidth, withPad: " ", startingAt: 0) + "  "
                    + status.padding(toLength: 9, withPad: " ", startingAt: 0) + "  " + detail)
        }
        console.output(counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        if interrupted {
            console.output("interrupted: run the same command again to resume")
        }
        let failed = (counts["dead"] ?? 0) + (counts["cancelled"] ?? 0) + (counts["failed"] ?? 0)
        return failed > 0 || interrupted ? 1 : 0
    }
}
