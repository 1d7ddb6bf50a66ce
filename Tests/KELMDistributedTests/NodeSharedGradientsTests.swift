#if canImport(Glibc)
import Glibc
#endif
import KELMDistributed
import KELMMPI
import KELMNumerics
import KELMTestSupport
import KELMMPITestSupport
import XCTest

/// The node's shared-memory reduction. Runs at any world size: the test script runs it under
/// mpirun -np 2 and 3 (every rank on this machine: the shared path is taken) and on the
/// simulated cluster (one rank per host: it must not be); at one rank there is nothing to share.
final class NodeSharedGradientsTests: XCTestCase {
    /// Buckets with every kind of chunking: more elements than ranks with and without a
    /// remainder, fewer elements than ranks (some chunks empty), and a gap the reduction must
    /// leave alone (elements 40..<45 belong to no bucket).
    static let count = 64
    static let buckets = [50..<64, 45..<50, 44..<45, 0..<40]
    static let outside = 40..<44

    /// Rank r's gradient: values whose float sum depends on the order of the terms.
    static func value(rank: Int, index: Int, round: Int) -> Float {
        let big: Float = rank == 0 ? 1e8 : (rank == 1 ? -1e8 : 0)
        return big + Float(rank + 1) * 0.37 + Float(index % 5) * 1.13 + Float(round) * 0.01
    }

    /// Σ over ranks in rank order, as the chunk's owner sums it.
    static func expected(ranks: Int, index: Int, round: Int) -> Float {
        var s = value(rank: 0, index: index, round: round) + value(rank: 1, index: index, round: round)
        for r in 2..<max(2, ranks) { s += value(rank: r, index: index, round: round) }
        return s
    }

    func testSumsEveryBucketInRankOrderWithTheSameBitsOnEveryRank() throws {
        try sumsInRankOrder(buckets: Self.buckets, count: Self.count, outside: Self.outside, rounds: 3, stagger: false)
    }

    /// The same with ranks out of step, on large buckets: in turn one rank is late to finish its
    /// buckets, or late to sum and collect while the others rewrite their buffers at once (a rank
    /// that read a buffer before its owner was done with it, or after it was rewritten, would see
    /// other values).
    func testRanksOutOfStepStillSumWhatEachHadAtTheRound() throws {
        let n = 200_003
        try sumsInRankOrder(buckets: [150_000..<n, 70_001..<150_000, 0..<70_000], count: n, outside: 70_000..<70_001,
                            rounds: 6, stagger: true)
    }

    func sumsInRankOrder(buckets: [Range<Int>], count: Int, outside: Range<Int>, rounds: Int, stagger: Bool) throws {
        let world = try MPIRuntime.world()
        let expectShared = try MPITopology.everyRankOnOneNode(world)
        guard let shared = try NodeSharedGradients.make(job: world, count: count, buckets: buckets) else {
            XCTAssertFalse(expectShared, "every rank runs on this machine: the shared path must be taken")
            return
        }
        defer { XCTAssertNoThrow(try shared.close()) }
        XCTAssertTrue(expectShared)
        XCTAssertEqual(shared.localSize, world.size)
        XCTAssertEqual(shared.localRank, world.rank)
        let g = shared.gradients.pointer
        // the chunks tile each bucket
        for b in buckets.indices {
            let chunks = (0..<world.size).map { shared.chunk(b, owner: $0) }
            XCTAssertEqual(chunks.first?.lowerBound, buckets[b].lowerBound)
            XCTAssertEqual(chunks.last?.upperBound, buckets[b].upperBound)
            for (a, c) in zip(chunks, chunks.dropFirst()) { XCTAssertEqual(a.upperBound, c.lowerBound) }
        }
        for i in 0..<count { g[i] = Self.value(rank: world.rank, index: i, round: 1) }
        var sums = [Float](repeating: 0, count: count)
        for round in 1...rounds {
            try shared.beginRound()
            // buckets become ready one by one, with progress in between (as during backward)
            // with `stagger`, one rank is late to finish its buckets, and another late to sum and
            // collect: the others must neither read a bucket before its rank is done with it nor
            // rewrite their buffers before the late one has copied from them
            // (in turn: one kind of lateness per round, and a different rank each time)
            let late = stagger && world.rank == (round / 2) % world.size
            let lateToFinish = late && round % 2 == 1, lateToCollect = late && round % 2 == 0
            for b in buckets.indices {
                if lateToFinish { usleep(20_000) }
                shared.markReady(b)
                if !lateToCollect { try shared.progress(started: b + 1) }
            }
            if lateToCollect { usleep(20_000) }
            try shared.finishRound(started: buckets.count)
            XCTAssertEqual(shared.completeCount, buckets.count)
            for i in 0..<count { sums[i] = g[i] }
            // the next round's gradients at once, as the next step's backward writes them
            for i in 0..<count { g[i] = Self.value(rank: world.rank, index: i, round: round + 1) }
            var wrong = 0
            for b in buckets {
                for i in b where sums[i].bitPattern != Self.expected(ranks: world.size, index: i, round: round).bitPattern {
                    if wrong == 0 { XCTFail("round \(round), element \(i): \(sums[i])") }
                    wrong += 1
                }
            }
            XCTAssertEqual(wrong, 0, "round \(round)")
            for i in outside {
                XCTAssertEqual(sums[i], Self.value(rank: world.rank, index: i, round: round), "element \(i) is in no bucket")
            }
            // every rank holds the same bits
            var digest = FNV1a64.offsetBasis
            for b in buckets { sums[b].withUnsafeBytes { FNV1a64.mix(&digest, $0) } }
            let all = try [Int64(bitPattern: digest)].withUnsafeBufferPointer { try world.allGatherV($0) }
            XCTAssertEqual(Set(all).count, 1, "round \(round): every rank holds the same sums")
        }
    }

    /// Hierarchical (`.always`): on one node the shared path itself; over several nodes (the
    /// simulated cluster, with 1 or 2 ranks per host) each chunk is summed over its node, then
    /// across the nodes by the ranks of its local index, then copied: every rank gets the sum
    /// over all ranks, with the same bits, round after round, one rank late in turn.
    func testHierarchicalSumsOverEveryRankWithTheSameBits() throws {
        let world = try MPIRuntime.world()
        guard world.size > 1 else { return }
        let oneNode = try MPITopology.everyRankOnOneNode(world)
        let n = 100_003, buckets = [60_000..<n, 5..<60_000, 0..<5]
        guard let shared = try NodeSharedGradients.make(job: world, count: n, buckets: buckets, hierarchy: .always) else {
            return XCTFail("hierarchical: the nodes hold the same number of ranks, so the shared buffers must be made")
        }
        defer { XCTAssertNoThrow(try shared.close()) }
        XCTAssertEqual(shared.isHierarchical, !oneNode)
        let g = shared.gradients.pointer
        let ranksSum = world.size * (world.size + 1) / 2
        for round in 0..<4 {
            // integer values: every order of the sum gives the same exact value
            for i in 0..<n { g[i] = Float((world.rank + 1) * (i % 11 + round)) }
            try shared.beginRound()
            let late = world.rank == round % world.size
            for b in buckets.indices {
                if late { usleep(10_000) }
                shared.markReady(b)
                try shared.progress(started: b + 1)
            }
            try shared.finishRound(started: buckets.count)
            var wrong = 0
            for i in 0..<n where g[i] != Float(ranksSum * (i % 11 + round)) { wrong += 1 }
            XCTAssertEqual(wrong, 0, "round \(round): \(wrong) elements are not the sum over \(world.size) ranks")
        }
    }

    /// The reducer through shared memory gives what it gives through MPI (up to the order of the
    /// terms), with its buckets timed.
    func testReducerThroughSharedMemoryMatchesMPI() throws {
        let world = try MPIRuntime.world()
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        var table = ParameterTable()
        try table.addWeight("a", shape: [33, 7])
        try table.addBias("b", count: 5)
        try table.addWeight("c", shape: [9, 11])
        let policies: [ReductionPolicy] = [.dense, .frozen, .dense]
        let stages = [1, 1, 0]
        let buckets = GradientReducer.plan(table: table, policies: policies, readyStage: stages, capBytes: 40 * 4)
        let expectShared = try MPITopology.everyRankOnOneNode(world)
        guard let shared = try collective.nodeSharedGradients(count: table.count, buckets: buckets.map(\.range)) else {
            XCTAssertFalse(expectShared)
            return
        }
        XCTAssertTrue(expectShared)
        XCTAssertEqual(collective.sharedGradients.count, 1)
        let reference = FlatBuffer(count: table.count)
        let viaMPI = try GradientReducer(buckets: buckets, grads: reference, collective: collective)
        let viaShared = try GradientReducer(buckets: buckets, grads: shared.gradients, collective: collective, shared: shared)
        XCTAssertNil(viaMPI.shared)
        for step in 0..<2 {
            for i in 0..<table.count {
                let v = Float((i * 7 + world.rank * 13 + step) % 17) * 0.25 - 2
                reference.pointer[i] = v
                shared.gradients.pointer[i] = v
            }
            for r in [viaMPI, viaShared] {
                try r.beginStep()
                try r.stageCompleted(0)
                try r.poll()
                try r.finish()
            }
            for i in 0..<table.count {
                XCTAssertEqual(shared.gradients.pointer[i], reference.pointer[i], accuracy: 1e-5, "step \(step), element \(i)")
            }
            XCTAssertTrue(viaShared.timings.allSatisfy { $0.finishedNanoseconds >= $0.startedNanoseconds && $0.finishedNanoseconds > 0 })
        }
        let frozen = try table.entry(named: "b")
        for j in 0..<frozen.count {
            let i = frozen.offset + j
            XCTAssertEqual(shared.gradients.pointer[i], Float((i * 7 + world.rank * 13 + 1) % 17) * 0.25 - 2, "frozen element \(i) untouched")
        }
    }

    /// Ranks that pass different sizes get an error, all of them, instead of a wait.
    func testRanksThatDisagreeOnTheBucketsAreAnError() throws {
        let world = try MPIRuntime.world()
        guard world.size > 1 else { return }
        let buckets = world.rank == 0 ? [0..<8] : [0..<4, 4..<8]
        XCTAssertThrowsError(try NodeSharedGradients.make(job: world, count: 8, buckets: buckets)) { e in
            XCTAssertTrue("\(e)".contains("different gradient sizes or buckets"), "\(e)")
        }
    }

    func testOneRankHasNothingToShare() throws {
        let world = try MPIRuntime.world()
        let single = try world.split(color: world.rank, key: 0)
        defer { XCTAssertNoThrow(try single.close()) }
        XCTAssertNil(try NodeSharedGradients.make(job: single, count: 8, buckets: [0..<8]))
    }
}
