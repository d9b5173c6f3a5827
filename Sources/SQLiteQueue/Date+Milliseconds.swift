import Foundation

extension Date {
    /// The date of `milliseconds` since 1970 (UTC), the unit the queue's database stores.
    init(milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// Milliseconds since 1970 (UTC), rounded to the nearest.
    var milliseconds: Int64 { Int64((self.timeIntervalSince1970 * 1000).rounded()) }
}

extension Duration {
    /// The duration in whole milliseconds, rounded to the nearest.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        return seconds * 1000 + Int64((Double(attoseconds) / 1e15).rounded())
    }
}
