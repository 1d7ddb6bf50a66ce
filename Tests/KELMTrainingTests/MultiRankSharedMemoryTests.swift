import KELMDistributed
import KELMMemory
import KELMMPI
import KELMNumerics
import KELMTestSupport
import XCTest
@testable import KELMTraining

/// Ranks on one node share one copy of the entity memory (run under mpirun -np 2 and 3 by the
/// test script: all ranks are on this machine).
final class MultiRankSharedMemoryTests: XCTestCase {
    func testOneCopyPerNodeWithIdenticalRows() throws {
        let world = try MPIRuntime.world()
        let config = try MultiRankTrainingTests.config(microBatch: 1)
        let data = MultiRankTrainingTests.data()
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        let t = try Trainer(config: config, data: data, collective: collective, nodeSharing: collective)
        let shared = collective.sharedMemories.first
        let alone = try Trainer(config: config, data: data, collective: SingleProcess())
        let worst = zip(t.memory.storage.floats(), alone.memory.storage.floats()).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-5, "every rank reads the rows a lone rank computes (up to float rounding)")
        let nodeRanks = try world.splitShared().size
        if nodeRanks > 1 { XCTAssertNotNil(shared, "ranks of one node share the memory") }
        guard nodeRanks > 1, let shared else {
            XCTAssertNil(shared, "one rank on the node: nothing to share")
            return
        }
        XCTAssertFalse(t.memory.storage.ownsMemory, "M is a view of the node's window")
        // one copy: what the writer stores, every rank reads after synchronizing
        try shared.synchronize()   // every rank has finished reading the rows above
        try t.memory.write { var v: Float = 12345; $0.store(&v, at: 5, count: 1) }
        XCTAssertEqual(t.memory.rows.value(row: 0, column: 5), 12345)
        XCTAssertEqual(shared.isWriter, shared.node.rank == 0)
        _ = try t.trainStep()
        XCTAssertNoThrow(try t.checkConsistency())
    }

    /// `memory.dtype: float16` in a short training run (1 rank under `swift test`, 2 and 3 under
    /// the test script): the node's window holds one float16 copy (half the bytes), every rank
    /// reads identical rows, before and after refreshes, and they stay within half precision of
    /// a float32 memory's.
    func testFloat16TrainingSharesOneHalfPrecisionCopy() throws {
        let world = try MPIRuntime.world()
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        var config = try MultiRankTrainingTests.config(microBatch: 1)
        config.memory.dtype = .float16
        config.memory.initInterval = 1   // refreshes at steps 1, 2 and 3
        config.memory.blockEntities = 7
        let data = MultiRankTrainingTests.data()
        let t = try Trainer(config: config, data: data, collective: collective, nodeSharing: collective)
        let shared = collective.sharedMemories.first
        let E = data.entityCount, d = config.model.hiddenSize
        XCTAssertEqual(t.memory.dtype, .float16)
        XCTAssertEqual(t.memory.storage.byteCount, E * d * 2)
        // ranks on this rank's node (all of them under mpirun on one machine; one per simulated
        // host on the multi-host cluster, where nothing is shared)
        let nodeRanks = try world.splitShared().size
        if nodeRanks > 1 {
            let window = try XCTUnwrap(shared, "ranks of one node share the memory")
            XCTAssertEqual(window.window.byteCount, E * d * 2, "the window holds one float16 copy: half the float32 bytes")
            XCTAssertFalse(t.memory.storage.ownsMemory)
        } else {
            XCTAssertNil(shared)
        }
        var float32 = config
        float32.memory.dtype = .float32
        let reference = try Trainer(config: float32, data: data, collective: SingleProcess())
        func assertIdenticalOnEveryRank(_ label: String) throws {
            let mine = t.memory.storage.floats()
            let all = try mine.withUnsafeBufferPointer { try collective.allGatherV($0) }
            for r in 0..<world.size {
                let differing = (0..<mine.count).filter { all[r * mine.count + $0].bitPattern != all[$0].bitPattern }.count
                XCTAssertEqual(differing, 0, "\(label): rank \(r) reads other rows than rank 0")
            }
        }
        try assertIdenticalOnEveryRank("after the fill")
        let filled = t.memory.storage.floats(), exact = reference.memory.storage.floats()
        for i in 0..<filled.count {
            XCTAssertTrue(HalfPrecision.within(filled[i], exact[i], roundings: 2), "element \(i): \(filled[i]) vs \(exact[i])")
        }
        for _ in 0..<4 {
            let m = try t.trainStep()
            XCTAssertTrue(m.loss.isFinite)
        }
        XCTAssertEqual(t.memorySchedule.refreshCount, 3)
        try assertIdenticalOnEveryRank("after 3 refreshes")
        XCTAssertNoThrow(try t.checkConsistency())
    }

    /// `memory.features: random` in the node's shared window: every rank reads exactly the rows a
    /// lone process draws, and they stay so after a step (never refreshed).
    func testRandomFeaturesAreTheSameOnEveryRank() throws {
        let world = try MPIRuntime.world()
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        var config = try MultiRankTrainingTests.config(microBatch: 1)
        config.memory.features = .random
        config.memory.initInterval = 1
        config.memory.maxInterval = 1
        let data = MultiRankTrainingTests.data()
        let t = try Trainer(config: config, data: data, collective: collective, nodeSharing: collective)
        let alone = EntityContextMemory(entityCount: data.entityCount, width: config.model.hiddenSize)
        try alone.fillRandom(seed: UInt64(config.data.seed))
        XCTAssertEqual(t.memory.storage.floats(), alone.storage.floats())
        _ = try t.trainStep()
        _ = try t.trainStep()
        XCTAssertEqual(t.memory.storage.floats(), alone.storage.floats())
    }
}
