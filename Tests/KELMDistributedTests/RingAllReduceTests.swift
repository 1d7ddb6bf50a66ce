#if canImport(Glibc)
import Glibc
#endif
import KELMDistributed
import KELMMPI
import KELMNumerics
import XCTest

/// The ring over persistent requests (`train.allreduce: mpi`), at any world size (the test script
/// runs it under mpirun -np 2 and 3: at 3 ranks the order of the sums is not commutative).
final class RingAllReduceTests: XCTestCase {
    /// Bucket sizes around the number of ranks (smaller, equal, not divisible) and a large one.
    static let sizes = [1, 2, 3, 7, 64, 1000, 40_003]

    func makeBuckets(_ buffer: FlatBuffer) -> [UnsafeMutableBufferPointer<Float>] {
        var offset = 0
        return Self.sizes.map { n in
            defer { offset += n }
            return UnsafeMutableBufferPointer(start: buffer.pointer + offset, count: n)
        }
    }

    /// Every rank gets the sum, in rounds that reuse the same requests, with buckets started in
    /// backward's fashion (some, progress, more) and finished together.
    func testSumsEveryBucketOverRoundsWithTheSameRequests() throws {
        let world = try MPIRuntime.world()
        let buffer = FlatBuffer(count: Self.sizes.reduce(0, +))
        let ring = try RingAllReduce(communicator: world, buckets: makeBuckets(buffer))
        defer { try? ring.close() }
        let P = Float(world.size), ranksSum = Float(world.size * (world.size + 1) / 2)
        for round in 0..<4 {
            // integers: every order of the sum gives the same exact value
            // receives posted ahead (as before backward) in some rounds, and one rank late in turn,
            // so that the others' messages arrive before it starts
            if round % 2 == 0 { try ring.prepare() }
            if world.rank == round % world.size { usleep(20_000) }
            for i in 0..<buffer.count { buffer.pointer[i] = Float(world.rank + 1) * Float(i % 13 + round) }
            try ring.start(0)
            try ring.start(1)
            try ring.progress()
            for b in 2..<Self.sizes.count { try ring.start(b); try ring.progress() }
            try ring.finish()
            for b in 0..<Self.sizes.count { XCTAssertTrue(ring.isComplete(b), "bucket \(b)") }
            var wrong = 0
            for i in 0..<buffer.count where buffer.pointer[i] != ranksSum * Float(i % 13 + round) { wrong += 1 }
            XCTAssertEqual(wrong, 0, "round \(round): \(wrong) elements differ from the sum over \(P) ranks")
        }
    }

    /// The documented order: chunk k of a bucket is summed along the ring from rank k,
    /// (((g_k + g_k+1) + g_k+2) + …), and every rank holds those bits.
    func testChunksAreSummedAlongTheRingWithTheSameBitsOnEveryRank() throws {
        let world = try MPIRuntime.world()
        let P = world.size
        let buffer = FlatBuffer(count: Self.sizes.reduce(0, +))
        var rng = RandomStream(RandomKey(seed: 17, purpose: .benchmark, stream: UInt32(world.rank)))
        for i in 0..<buffer.count { buffer.pointer[i] = (rng.nextFloat() * 2 - 1) * 1e3 }
        // every rank's input, in rank order
        let inputs = try world.allGatherV(UnsafeBufferPointer(start: buffer.pointer, count: buffer.count))
        let ring = try RingAllReduce(communicator: world, buckets: makeBuckets(buffer))
        defer { try? ring.close() }
        for b in 0..<Self.sizes.count { try ring.start(b) }
        try ring.finish()
        var offset = 0, wrong = 0
        for n in Self.sizes {
            for k in 0..<P {
                for i in (k * n / P)..<((k + 1) * n / P) {
                    var sum = inputs[k * buffer.count + offset + i]
                    for j in 1..<max(P, 1) { sum = sum + inputs[((k + j) % P) * buffer.count + offset + i] }
                    if sum.bitPattern != buffer.pointer[offset + i].bitPattern { wrong += 1 }
                }
            }
            offset += n
        }
        XCTAssertEqual(wrong, 0, "\(wrong) elements are not the ring's sum")
        // and against MPI's own all-reduce, within float rounding
        var reference = [Float](repeating: 0, count: buffer.count)
        for r in 0..<P { for i in 0..<buffer.count { reference[i] += inputs[r * buffer.count + i] } }
        var worst: Float = 0
        for i in 0..<buffer.count { worst = max(worst, abs(reference[i] - buffer.pointer[i])) }
        XCTAssertLessThanOrEqual(worst, 1e-3)
    }

    /// The bytes a rank sends: 2 (P − 1) chunks of every bucket.
    func testBytesSentAreTwiceTheBucketLessOneChunk() {
        XCTAssertEqual(RingAllReduce.bytesSent(counts: [100], ranks: 1), 0)
        XCTAssertEqual(RingAllReduce.bytesSent(counts: [100], ranks: 2), 2 * 50 * 4)
        XCTAssertEqual(RingAllReduce.bytesSent(counts: [99, 3], ranks: 3), 2 * (66 + 2) * 4)
    }
}
