import KELMDistributed
import KELMMPI
import KELMMPITestSupport
import KELMNumerics
import XCTest

/// Every reduction of a step in one place (runs at any world size; the test script runs it
/// under mpirun -np 2 and 3 as well): dense buckets, the path buffer and the word rows each sum
/// to what one process holding every rank's gradients would have, and the norm and clipping
/// scale follow from them.
final class GradientExchangeTests: XCTestCase {
    /// emb [6, 2] (stage 1), w [2, 2] (stage 0), b [2] (stage 0, frozen in stage plan 1).
    func makeStore() throws -> ParameterStore {
        var t = ParameterTable()
        try t.addWeight("emb", shape: [6, 2])
        try t.addWeight("w", shape: [2, 2])
        try t.addBias("b", count: 2)
        return ParameterStore(table: t)
    }

    func testEveryReductionSumsOverTheRanks() throws {
        let world = try MPIRuntime.world()
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        let store = try makeStore()
        let table = store.table
        let path = FlatBuffer(count: 3)
        let plans = [GradientExchange.StagePlan(reduction: [.dense, .dense, .dense], readyStage: [1, 0, 0]),
                     GradientExchange.StagePlan(reduction: [.dense, .routed, .frozen], readyStage: [1, 0, 0])]
        let exchange = try GradientExchange(store: store, stages: plans, capBytes: 1 << 20, collective: collective,
                                            nodeSharing: collective, wordEmbeddings: (try table.entry(named: "emb"), 4),
                                            pathGradients: path)
        XCTAssertEqual(exchange.reducers.count, 2)
        XCTAssertEqual(exchange.shared != nil, try MPITopology.autoUsesSharedMemory(world))
        let r = Float(world.rank + 1), n = Float(world.size * (world.size + 1) / 2)
        for stage in 0..<2 {
            try exchange.activate(stage: stage)
            let grads = store.grads
            for i in 0..<table.count { grads.pointer[i] = r * Float(i + 1) }
            for i in 0..<path.count { path.pointer[i] = r * Float(10 + i) }
            // every rank contributes rows: rank k adds row k % 6 with values (k + 1) and row 5 with 1
            let rows = SparseRows(capacity: 4, width: 2)
            var v: [Float] = [r, r]
            rows.append(id: Int32(world.rank % 6), row: &v)
            var one: [Float] = [1, 1]
            rows.append(id: 5, row: &one)
            try exchange.beginBackward()
            try exchange.stageCompleted(0)
            let exposed = try exchange.finish(routed: stage == 1, rows: rows)
            XCTAssertGreaterThanOrEqual(exposed, 0)
            var expected = (0..<table.count).map { n * Float($0 + 1) }
            if stage == 1 { for i in 12..<16 { expected[i] = r * Float(i + 1) } }   // w routed: not reduced here
            if stage == 1 { for i in 16..<18 { expected[i] = r * Float(i + 1) } }   // b frozen
            for k in 0..<world.size {
                expected[(k % 6) * 2] += Float(k + 1)
                expected[(k % 6) * 2 + 1] += Float(k + 1)
                expected[10] += 1
                expected[11] += 1
            }
            XCTAssertEqual(grads.toArray(), expected, "stage \(stage)")
            XCTAssertEqual(path.toArray(), (0..<3).map { (stage == 1 ? n : r) * Float(10 + $0) }, "the path buffer, stage \(stage)")
            XCTAssertEqual(exchange.sparseBytes, 2 * world.size * (8 + 4 * 2))
            XCTAssertEqual(exchange.bytesExchanged(routed: stage == 1),
                           exchange.denseBytes + exchange.sparseBytes + (stage == 1 ? 12 : 0))
            // the norm over what trains, then the clipping scale (applied to the path buffer)
            let frozen = stage == 0 ? [false, false, false] : [false, true, true]
            var squares = 0.0
            for (i, e) in table.entries.enumerated() where !frozen[i] {
                for j in e.offset..<(e.offset + e.count) { squares += Double(expected[j] * expected[j]) }
            }
            if stage == 1 { for x in path.toArray() { squares += Double(x * x) } }
            let norm = exchange.globalNorm(frozen: frozen, routed: stage == 1)
            XCTAssertEqual(norm, squares.squareRoot(), accuracy: 1e-3 * squares.squareRoot())
            XCTAssertEqual(exchange.clipScale(norm: norm, clip: 0, routed: true), 1, "clip 0: no clipping")
            XCTAssertEqual(exchange.clipScale(norm: norm, clip: 2 * norm, routed: true), 1)
            let before = path.toArray()
            let scale = exchange.clipScale(norm: norm, clip: norm / 4, routed: stage == 1)
            XCTAssertEqual(scale, Float((norm / 4) / (norm + 1e-6)), accuracy: 1e-6)
            XCTAssertEqual(path.toArray(), stage == 1 ? before.map { $0 * scale } : before)
        }
    }
}
