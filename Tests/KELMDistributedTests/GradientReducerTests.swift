import KELMDistributed
import KELMMPI
import KELMNumerics
import XCTest

/// Runs at any world size (the test script runs it under mpirun -np 2 and 3 as well).
final class GradientReducerTests: XCTestCase {
    /// A table like the model's: stage 0 = "heads" at the end of the table, stage 1 = the
    /// last layer, stage 2 = the first layer, stage 3 = embeddings at the start.
    func makeTable() throws -> (ParameterTable, [Int]) {
        var t = ParameterTable()
        try t.addWeight("emb", shape: [10, 4])        // 0..<40      stage 3
        try t.addWeight("l0.w", shape: [4, 4])        // 40..<56     stage 2
        try t.addBias("l0.b", count: 4)               // 56..<60     stage 2
        try t.addWeight("l1.w", shape: [4, 4])        // 60..<76     stage 1
        try t.addBias("l1.b", count: 4)               // 76..<80     stage 1
        try t.addWeight("head.w", shape: [3, 4])      // 80..<92     stage 0
        return (t, [3, 2, 2, 1, 1, 0])
    }

    func testBucketsFollowBackwardOrderAndAreContiguous() throws {
        let (t, stages) = try makeTable()
        let grads = FlatBuffer(count: t.count)
        let r = try GradientReducer(table: t, policies: Array(repeating: .dense, count: 6), readyStage: stages,
                                capBytes: 24 * 4, grads: grads, collective: SingleProcess())
        // 24-float cap: head (12) + l1.b (4) chain; l1.w (16) would exceed, new bucket; …;
        // emb (40 floats) exceeds the cap on its own and is cut into cap-sized buckets
        XCTAssertEqual(r.buckets.map(\.entries), [[5, 4], [3, 2], [1], [0], [0]])
        XCTAssertEqual(r.buckets.map(\.range), [76..<92, 56..<76, 40..<56, 0..<24, 24..<40])
        XCTAssertEqual(r.buckets.map(\.readyStage), [1, 2, 2, 3, 3])
        XCTAssertTrue(r.buckets.allSatisfy { $0.bytes <= 24 * 4 })
        XCTAssertEqual(r.denseBytes, 92 * 4)
        // frozen and routed entries are left out and split buckets
        let partial = try GradientReducer(table: t, policies: [.frozen, .dense, .dense, .routed, .dense, .dense],
                                      readyStage: stages, capBytes: 1 << 20, grads: grads, collective: SingleProcess())
        XCTAssertEqual(partial.buckets.map(\.entries), [[5, 4], [2, 1]])
        XCTAssertEqual(partial.buckets.map(\.range), [76..<92, 40..<60])
    }

    /// The sum over ranks, bucket by bucket, started as stages complete.
    func testSumsOverRanks() throws {
        let world = try MPIRuntime.world()
        let collective = MPICollective(world)
        let (t, stages) = try makeTable()
        let grads = FlatBuffer(count: t.count)
        for i in 0..<t.count { grads.pointer[i] = Float(world.rank + 1) * Float(i % 7 + 1) }
        let r = try GradientReducer(table: t, policies: Array(repeating: .dense, count: 6), readyStage: stages,
                                capBytes: 24 * 4, grads: grads, collective: collective)
        try r.beginStep()
        try r.stageCompleted(0)
        try r.stageCompleted(1)
        try r.stageCompleted(2)
        try r.finish()
        let n = Float(world.size * (world.size + 1) / 2)
        for i in 0..<t.count { XCTAssertEqual(grads.pointer[i], n * Float(i % 7 + 1), "element \(i)") }
        // buckets were started no earlier than their stage: the embeddings' only by finish
        XCTAssertEqual(r.timings.count, 5)
        XCTAssertTrue(r.timings.allSatisfy { $0.finishedNanoseconds >= $0.startedNanoseconds })
    }
}
