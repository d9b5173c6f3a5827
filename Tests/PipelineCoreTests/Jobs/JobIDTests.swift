import Foundation
import PipelineCore
import Testing

struct JobIDTests {
    /// A generator that repeats one value, so the random part is known.
    struct RepeatingGenerator: RandomNumberGenerator {
        var value: UInt64
        mutating func next() -> UInt64 { self.value }
    }

    @Test
    func anIdentifierIsTheMillisecondTimeThenRandomBitsInCrockfordBase32() {
        var zeros = RepeatingGenerator(value: 0)
        #expect(JobID.make(at: Date(timeIntervalSince1970: 0), using: &zeros) == "job_00000000000000000000000000")
        // 1 ms after the epoch puts a 1 in the last bit of the time, just before the 16 random characters.
        #expect(JobID.make(at: Date(timeIntervalSince1970: 0.001), using: &zeros) == "job_00000000010000000000000000")
        var ones = RepeatingGenerator(value: .max)
        #expect(JobID.make(at: Date(timeIntervalSince1970: 0), using: &ones) == "job_0000000000ZZZZZZZZZZZZZZZZ")
    }

    @Test
    func anIdentifierFromADigestEndsInItsFirst80BitsAfterTheTime() {
        let epoch = Date(timeIntervalSince1970: 0)
        // 80 one bits, then bytes that must not show.
        let ones = JobID.make(at: epoch, digest: [UInt8](repeating: 0xFF, count: 10) + [0x00, 0x12])
        #expect(ones == "job_0000000000ZZZZZZZZZZZZZZZZ")
        // 0x80 first: the tail's top bit, the first bit of its first character (16 = "G").
        let top = JobID.make(at: Date(timeIntervalSince1970: 0.001), digest: [0x80] + [UInt8](repeating: 0, count: 9))
        #expect(top == "job_0000000001G000000000000000" && JobID.isValid(top))
        #expect(JobID.tail(of: top) == "G000000000000000")
        let later = JobID.make(
            at: Date(timeIntervalSince1970: 1_800_000_000), digest: [0x80] + [UInt8](repeating: 0, count: 9))
        #expect(later != top && JobID.tail(of: later) == JobID.tail(of: top))
    }

    @Test
    func laterMillisecondsSortAfterEarlierOnes() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let ids = (0..<200).map { JobID.make(at: start.addingTimeInterval(Double($0) / 1000)) }
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy(JobID.isValid))
    }

    @Test(arguments: [
        "job_01", "task_00000000000000000000000000", "job_0000000000000000000000000I", "job_80000000000000000000000000",
    ])
    func malformedIdentifiersAreNotValid(_ text: String) {
        #expect(!JobID.isValid(text))
    }
}
