import Foundation
import Synchronization

/// Counters, gauges and histograms for `/metrics`, in Prometheus's text exposition format.
///
/// One registry per process; every part records into it (the worker's job events, the gateway's provider attempts,
/// the HTTP server's requests). Series are keyed by name and label values; label values are escaped when written.
/// Recording takes a lock for a few dictionary operations, so it is cheap enough for every request and chunk.
package final class Metrics: Sendable {
    /// What a metric family is.
    package enum Kind: String, Sendable {
        case counter
        case gauge
        case histogram
    }

    private struct Family {
        var kind: Kind
        var help: String
        var buckets: [Double] = []
        var values: [[String: String]: Double] = [:]
        var histograms: [[String: String]: Histogram] = [:]
    }

    private struct Histogram {
        var counts: [Int]
        var sum = 0.0
        var count = 0
    }

    private let families = Mutex<[String: Family]>([:])

    /// Creates an empty registry.
    package init() {}

    /// Adds `amount` to a counter.
    package func increment(_ name: String, _ labels: [String: String] = [:], by amount: Double = 1, help: String) {
        self.families.withLock { families in
            families[name, default: Family(kind: .counter, help: help)].values[labels, default: 0] += amount
        }
    }

    /// Sets a gauge.
    package func set(_ name: String, _ labels: [String: String] = [:], to value: Double, help: String) {
        self.families.withLock { families in
            families[name, default: Family(kind: .gauge, help: help)].values[labels] = value
        }
    }

    /// Records one observation in a histogram with the given upper bounds (seconds, usually).
    package func observe(
        _ name: String, _ labels: [String: String] = [:], _ value: Double, buckets: [Double], help: String
    ) {
        guard value.isFinite else { return }
        self.families.withLock { families in
            var family = families[name] ?? Family(kind: .histogram, help: help, buckets: buckets.sorted())
            var histogram =
                family.histograms[labels] ?? Histogram(counts: Array(repeating: 0, count: family.buckets.count))
            for (index, bound) in family.buckets.enumerated() where value <= bound {
                histogram.counts[index] += 1
            }
            histogram.sum += value
            histogram.count += 1
            family.histograms[labels] = histogram
            families[name] = family
        }
    }

    /// A counter's or gauge's current value (0 when never recorded), for tests and summaries.
    package func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
        self.families.withLock { $0[name]?.values[labels] ?? 0 }
    }

    /// The sum over every series of a counter or gauge whose labels include `matching`.
    package func total(_ name: String, matching: [String: String] = [:]) -> Double {
        self.families.withLock { families in
            guard let family = families[name] else { return 0 }
            return family.values.filter { series in matching.allSatisfy { series.key[$0.key] == $0.value } }
                .values.reduce(0, +)
        }
    }

    /// Every family in Prometheus's text format, families and series sorted so the output is stable.
    package func exposition() -> String {
        let families = self.families.withLock { $0 }
        var lines: [String] = []
        for name in families.keys.sorted() {
            guard let family = families[name] else { continue }
            lines.append("# HELP \(name) \(Self.escapeHelp(family.help))")
            lines.append("# TYPE \(name) \(family.kind.rawValue)")
            switch family.kind {
            case .counter, .gauge:
                for (labels, value) in family.values.sorted(by: { Self.key($0.key) < Self.key($1.key) }) {
                    lines.append("\(name)\(Self.render(labels)) \(Self.number(value))")
                }
            case .histogram:
                for (labels, histogram) in family.histograms.sorted(by: { Self.key($0.key) < Self.key($1.key) }) {
                    for (index, bound) in family.buckets.enumerated() {
                        var withBound = labels
                        withBound["le"] = Self.number(bound)
                        lines.append("\(name)_bucket\(Self.render(withBound)) \(histogram.counts[index])")
                    }
                    var infinite = labels
                    infinite["le"] = "+Inf"
                    lines.append("\(name)_bucket\(Self.render(infinite)) \(histogram.count)")
                    lines.append("\(name)_sum\(Self.render(labels)) \(Self.number(histogram.sum))")
                    lines.append("\(name)_count\(Self.render(labels)) \(histogram.count)")
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func key(_ labels: [String: String]) -> String {
        labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    private static func render(_ labels: [String: String]) -> String {
        guard !labels.isEmpty else { return "" }
        let pairs = labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\(Self.escapeValue($0.value))\"" }
        return "{" + pairs.joined(separator: ",") + "}"
    }

    private static func escapeValue(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func escapeHelp(_ help: String) -> String {
        help.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    private static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 {
            return String(Int64(value))
        }
        return String(value)
    }
}

/// Latency buckets for provider requests and HTTP routes, in seconds.
package let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300]
