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

    /// Two rings on one communicator (the dense buckets and the path buffer, or two bucket plans)
    /// in flight at once, started in a different order on every rank: each ring matches only its
    /// own messages (its own duplicate of the communicator).
    func testTwoRingsOnOneCommunicatorDoNotMatchEachOthersMessages() throws {
        let world = try MPIRuntime.world()
        let a = FlatBuffer(count: 1000), b = FlatBuffer(count: 1000)
        let ringA = try RingAllReduce(communicator: world, buckets: [UnsafeMutableBufferPointer(start: a.pointer, count: 1000)])
        let ringB = try RingAllReduce(communicator: world, buckets: [UnsafeMutableBufferPointer(start: b.pointer, count: 1000)])
        defer { try? ringA.close(); try? ringB.close() }
        let ranksSum = Float(world.size * (world.size + 1) / 2)
        for round in 0..<3 {
            for i in 0..<1000 { a.pointer[i] = Float(world.rank + 1); b.pointer[i] = Float(world.rank + 1) * 100 }
            try ringA.prepare(); try ringB.prepare()
            // same-sized buckets with the same tags: on one communicator the first posted receive would take either
            if (world.rank + round) % 2 == 0 {
                try ringA.start(0); try ringA.progress(); try ringB.start(0)
            } else {
                try ringB.start(0); try ringB.progress(); try ringA.start(0)
            }
            try ringB.finish(); try ringA.finish()
            XCTAssertEqual((0..<1000).filter { a.pointer[$0] != ranksSum }.count, 0, "round \(round): ring A")
            XCTAssertEqual((0..<1000).filter { b.pointer[$0] != 100 * ranksSum }.count, 0, "round \(round): ring B")
        }
    }

    /// A completed round leaves the next round's receives posted (no neighbour's message can
    /// arrive unexpected, which the MPI library would buffer in memory it allocates), each in its
    /// own scratch chunk; `close` withdraws them, and the communicator works normally afterwards.
    func testTheNextRoundsReceivesArePostedAsARoundCompletesAndWithdrawnOnClose() throws {
        let world = try MPIRuntime.world()
        let buffer = FlatBuffer(count: Self.sizes.reduce(0, +))
        let ring = try RingAllReduce(communicator: world, buckets: makeBuckets(buffer))
        let P = world.size
        let chunks = Self.sizes.map { P > 1 ? 2 * (P - 1) * (($0 + P - 1) / P) : 0 }.reduce(0, +)
        XCTAssertEqual(ring.scratchCount, chunks)
        XCTAssertEqual(ring.armedBuckets, 0)
        try ring.prepare()
        XCTAssertEqual(ring.armedBuckets, P > 1 ? Self.sizes.count : 0)
        for i in 0..<buffer.count { buffer.pointer[i] = 1 }
        try ring.start(0)
        try ring.finish()
        // bucket 0 completed and re-posted; the others still wait with the first round's receives
        XCTAssertEqual(ring.armedBuckets, P > 1 ? Self.sizes.count : 0)
        for b in 1..<Self.sizes.count { try ring.start(b) }
        try ring.finish()
        XCTAssertEqual((0..<buffer.count).filter { buffer.pointer[$0] != Float(P) }.count, 0)
        XCTAssertEqual(ring.armedBuckets, P > 1 ? Self.sizes.count : 0)
        try ring.close()
        XCTAssertEqual(ring.armedBuckets, 0)
        var probe: [Float] = [1]
        try probe.withUnsafeMutableBufferPointer { try world.allReduce($0, op: .sum) }
        XCTAssertEqual(probe[0], Float(P))
    }

    /// A run ending on an error closes the ring with a bucket in flight: `close` returns at once
    /// (no wait on a neighbour that may be gone) and later calls are no-ops.
    func testClosingWithABucketInFlightReturnsAtOnce() throws {
        let world = try MPIRuntime.world()
        let buffer = FlatBuffer(count: 40_000)
        _ = Unmanaged.passRetained(buffer)     // kept: a send still in flight may read it
        let ring = try RingAllReduce(communicator: world, buckets: [UnsafeMutableBufferPointer(start: buffer.pointer, count: 40_000)])
        try ring.start(0)
        try ring.close()
        try ring.close()
        XCTAssertEqual(ring.isComplete(0), world.size == 1)
        try world.barrier()
    }

    /// The bytes a rank sends: 2 (P − 1) chunks of every bucket.
    func testBytesSentAreTwiceTheBucketLessOneChunk() {
        XCTAssertEqual(RingAllReduce.bytesSent(counts: [100], ranks: 1), 0)
        XCTAssertEqual(RingAllReduce.bytesSent(counts: [100], ranks: 2), 2 * 50 * 4)
        XCTAssertEqual(RingAllReduce.bytesSent(counts: [99, 3], ranks: 3), 2 * (66 + 2) * 4)
    }
}
