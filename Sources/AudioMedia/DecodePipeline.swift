internal import CFFmpeg
import Foundation
import PipelineCore

/// The synchronous decode state machine: demux, decode, resample to mono Float32, hand out blocks.
///
/// Not thread-safe; ``FFmpegDecodeSession`` serialises access. Every call does a bounded amount of work.
struct DecodePipeline: ~Copyable {
    private enum Phase {
        case reading
        case draining
        case flushing
        case finished
    }

    let source: SourceInfo
    private let input: InputFile
    private let decoder: Decoder
    private let packet: Packet
    private let frame: Frame
    private var resampler: Resampler?
    private let streamIndex: Int32
    private let outputRate: Int32
    private let limits: MediaLimits
    private var phase = Phase.reading
    private var pending: [Float] = []
    private var emittedSamples = 0
    private var consecutiveCorrupt = 0
    private(set) var summary = DecodeSummary()

    /// Opens `path` and its best audio stream; throws ``MediaError`` for anything that makes it unreadable.
    init(path: String, name: String, options: DecodeOptions) throws(MediaError) {
        let input = try Self.mapErrors(name) { () throws(FFmpegError) in
            try InputFile(path: path, limits: options.limits)
        }
        let index = try Self.selectStream(of: input, path: name)
        let stream = input.streams[Int(index)]!
        let parameters = stream.pointee.codecpar.pointee
        var duration: Double? = nil
        if stream.pointee.duration != cffmpeg_nopts_value() && stream.pointee.duration > 0 {
            duration = Double(stream.pointee.duration) * av_q2d(stream.pointee.time_base)
        }
        let declared = Declared(
            sampleRate: Int(parameters.sample_rate), channels: Int(parameters.ch_layout.nb_channels),
            duration: duration ?? input.duration, streams: input.streams.count,
            guessed: input.durationIsGuessed)
        // The longer of the stream's and the container's claims is checked: either may be the one that lies.
        var claimed = declared
        claimed.duration = [duration, input.duration].compactMap { $0 }.max()
        try claimed.check(against: options.limits, input: name)
        let decoder = try Self.openDecoder(input: input, streamIndex: index, path: name)
        let packet = try Self.mapErrors(name) { () throws(FFmpegError) in try Packet() }
        let frame = try Self.mapErrors(name) { () throws(FFmpegError) in try Frame() }
        self.source = SourceInfo(
            input: name, format: input.formatName, streamIndex: Int(index), codec: decoder.codecName,
            sampleRate: declared.sampleRate, channels: declared.channels, estimatedDuration: declared.duration)
        self.input = input
        self.decoder = decoder
        self.packet = packet
        self.frame = frame
        self.streamIndex = index
        self.outputRate = Int32(options.sampleRate)
        self.limits = options.limits
        self.resampler = nil
    }

    private static func selectStream(of input: borrowing InputFile, path: String) throws(MediaError) -> Int32 {
        do {
            return try input.selectBestAudioStream()
        } catch {
            var failure = Self.mediaError(error, input: path)
            if failure.kind == .noAudioStream {
                let found = input.describeStreams().map { "\($0.type) \($0.codec)" }
                failure.reason = "no audio stream" + (found.isEmpty ? "" : " (found: \(found.joined(separator: ", ")))")
            }
            throw failure
        }
    }

    private static func openDecoder(
        input: borrowing InputFile, streamIndex: Int32, path: String
    ) throws(MediaError) -> Decoder {
        guard let stream = input.streams[Int(streamIndex)] else {
            throw MediaError(.noAudioStream, input: path, reason: "no audio stream")
        }
        do {
            return try Decoder(stream: stream)
        } catch {
            var failure = Self.mediaError(error, input: path)
            if failure.kind == .unsupportedCodec {
                let codec = String(cString: avcodec_get_name(stream.pointee.codecpar.pointee.codec_id))
                failure.reason = "no decoder for audio codec '\(codec)'"
            }
            throw failure
        }
    }

    private static func mapErrors<T: ~Copyable>(
        _ path: String, _ body: () throws(FFmpegError) -> T
    ) throws(MediaError) -> T {
        do {
            return try body()
        } catch {
            throw Self.mediaError(error, input: path)
        }
    }

    /// Decodes until about `blockSamples` output samples are ready, and returns them; nil once everything is out.
    mutating func nextBlock(blockSamples: Int, cancellation: CancellationFlag) throws -> AudioBlock? {
        while self.pending.count < blockSamples && self.phase != .finished {
            if cancellation.isCancelled {
                throw CancellationError()
            }
            do throws(FFmpegError) {
                try self.step()
            } catch {
                throw Self.mediaError(error, input: self.source.input)
            }
            try self.checkDurationLimit()
        }
        guard !self.pending.isEmpty else { return nil }
        let block = AudioBlock(
            samples: self.pending, startSample: self.emittedSamples, sampleRate: Int(self.outputRate))
        self.emittedSamples += self.pending.count
        self.summary.samples = self.emittedSamples
        self.pending.removeAll(keepingCapacity: true)
        return block
    }

    private mutating func step() throws(FFmpegError) {
        switch self.phase {
        case .reading, .draining:
            switch try self.receiveFrame() {
            case .frame:
                try self.resample()
            case .needsInput where self.phase == .reading:
                try self.feedPacket()
            case .needsInput, .endOfStream:
                self.phase = .flushing
            }
        case .flushing:
            if let resampler = self.resampler.take() {
                try resampler.flush(appendingTo: &self.pending)
            }
            self.phase = .finished
            self.checkForTruncation()
            if self.summary.formatChanges > Self.namedFormatChanges {
                self.summary.warnings.append("the audio format changed \(self.summary.formatChanges) times in all")
            }
        case .finished:
            return
        }
    }

    /// Receives a frame, counting decoder-side corruption as a skipped packet rather than a failure.
    private mutating func receiveFrame() throws(FFmpegError) -> Decoder.Output {
        do throws(FFmpegError) {
            return try self.decoder.receive(into: self.frame)
        } catch  where error.code == cffmpeg_averror_invaliddata() {
            try self.countCorruptPacket(error)
            return .needsInput
        }
    }

    /// Reads the next packet of the chosen stream and sends it to the decoder; at the end, starts draining.
    private mutating func feedPacket() throws(FFmpegError) {
        while true {
            let status = av_read_frame(self.input.context, self.packet.pointer)
            if status == cffmpeg_averror_eof() {
                _ = self.decoder.sendEndOfStream()
                self.phase = .draining
                return
            }
            if status < 0 {
                try self.stopReading(at: FFmpegError(code: status, function: "av_read_frame"))
                return
            }
            defer { self.packet.unref() }
            guard self.packet.pointer.pointee.stream_index == self.streamIndex else { continue }
            let sent = self.decoder.send(self.packet)
            if sent == cffmpeg_averror_invaliddata() {
                try self.countCorruptPacket(FFmpegError(code: sent, function: "avcodec_send_packet"))
            } else if sent < 0 && sent != cffmpeg_averror_eagain() {
                throw FFmpegError(code: sent, function: "avcodec_send_packet")
            } else {
                self.consecutiveCorrupt = 0
            }
            return
        }
    }

    /// A read error after audio has come out means a truncated file: keep what decoded and say so.
    private mutating func stopReading(at error: FFmpegError) throws(FFmpegError) {
        guard self.emittedSamples + self.pending.count > 0 else { throw error }
        self.summary.truncated = true
        self.summary.warnings.append("input ended early (\(error.message)); kept the audio decoded before it")
        _ = self.decoder.sendEndOfStream()
        self.phase = .draining
    }

    /// A file that decodes to much less than its header declares was probably cut short.
    private mutating func checkForTruncation() {
        guard let declared = self.source.estimatedDuration else { return }
        let decoded = self.secondsOut
        guard decoded < declared - max(1.0, declared * 0.05) else { return }
        self.summary.truncated = true
        self.summary.warnings.append(
            "decoded \(Self.format(decoded)) s of the \(Self.format(declared)) s the file declares; it may be truncated"
        )
    }

    private mutating func countCorruptPacket(_ error: FFmpegError) throws(FFmpegError) {
        self.summary.skippedPackets += 1
        self.consecutiveCorrupt += 1
        if self.summary.skippedPackets == 1 {
            self.summary.warnings.append("skipped corrupt data (\(error.message))")
        }
        if self.consecutiveCorrupt > self.limits.maxConsecutiveCorruptPackets {
            throw error
        }
    }

    /// Converts the current frame, rebuilding the resampler if the stream's format changed.
    private mutating func resample() throws(FFmpegError) {
        defer { av_frame_unref(self.frame.pointer) }
        let frame = self.frame.pointer
        if let current = self.resampler.take() {
            if current.accepts(frame) {
                self.resampler = consume current
            } else {
                try current.flush(appendingTo: &self.pending)
                self.summary.formatChanges += 1
                // A hostile file can change format on every frame: name the first few, count the rest.
                if self.summary.formatChanges <= Self.namedFormatChanges {
                    self.summary.warnings.append(
                        "audio format changed at \(Self.format(self.secondsOut)) s to \(frame.pointee.sample_rate) Hz, "
                            + "\(frame.pointee.ch_layout.nb_channels) channels")
                }
            }
        }
        if self.resampler == nil {
            self.resampler = try withUnsafePointer(to: frame.pointee.ch_layout) { layout throws(FFmpegError) in
                try Resampler(
                    inputLayout: layout, inputFormat: AVSampleFormat(frame.pointee.format),
                    inputRate: frame.pointee.sample_rate, outputFormat: AV_SAMPLE_FMT_FLT,
                    outputRate: self.outputRate)
            }
        }
        try self.resampler?.convert(
            self.frame.planes, count: frame.pointee.nb_samples, appendingTo: &self.pending)
    }

    /// How many format changes get a warning of their own.
    private static let namedFormatChanges = 3

    private var secondsOut: Double {
        Double(self.emittedSamples + self.pending.count) / Double(self.outputRate)
    }

    private func checkDurationLimit() throws(MediaError) {
        guard let maxSeconds = self.limits.maxDecodedSeconds, self.secondsOut > maxSeconds else { return }
        throw MediaError(
            .limitExceeded, input: self.source.input,
            reason: "decoded audio is longer than the limit of \(Self.format(maxSeconds)) s")
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.2f", seconds)
    }

    private static func mediaError(_ error: FFmpegError, input: String) -> MediaError {
        var failure = error.mediaError(input: input)
        let opening = ["avformat_open_input", "avformat_find_stream_info"].contains(error.function)
        if error.code == cffmpeg_averror_invaliddata() && !opening {
            failure.kind = .corruptData
            failure.reason = "too many corrupt packets in a row (\(error.message))"
        }
        return failure
    }
}

/// What a container declares about itself and its audio stream, checked against the limits before anything is
/// decoded: a header that lies (a rate of 1 Hz, 65,535 channels, a duration of years) is bad input at once, not
/// hours of decoding and provider requests.
private struct Declared {
    var sampleRate: Int
    var channels: Int
    var duration: Double?
    var streams: Int
    /// Whether the durations are estimated, not read from the streams' headers (FFmpeg fills both from the estimate).
    var guessed: Bool

    /// Throws the first limit the declaration breaks. An estimated duration (from the bit rate or timestamps) may be
    /// off by a few times, so only twice the limit refuses it; decoding checks the real length as it goes.
    func check(against limits: MediaLimits, input: String) throws(MediaError) {
        if self.streams > limits.maxStreams {
            throw MediaError(
                .limitExceeded, input: input,
                reason: "the file declares \(self.streams) streams; at most \(limits.maxStreams) are read")
        }
        // Zero is "not known yet" (bounded probing found no frame); the decoder learns it from the first one.
        if self.sampleRate != 0 && !limits.sampleRates.contains(self.sampleRate) {
            throw MediaError(
                .corruptData, input: input,
                reason: "the audio stream declares a sample rate of \(self.sampleRate) Hz, outside the plausible "
                    + "\(limits.sampleRates.lowerBound)...\(limits.sampleRates.upperBound) Hz")
        }
        if self.channels < 0 || self.channels > limits.maxChannels {
            throw MediaError(
                .corruptData, input: input,
                reason: "the audio stream declares \(self.channels) channels; 1 to \(limits.maxChannels) are plausible")
        }
        if let declared = self.duration, let maxSeconds = limits.maxDecodedSeconds,
            declared > maxSeconds * (self.guessed ? 2 : 1)
        {
            throw MediaError(
                .limitExceeded, input: input,
                reason: "the file declares \(Int(declared.rounded())) s of audio, over the limit of "
                    + "\(Int(maxSeconds.rounded())) s")
        }
    }
}
