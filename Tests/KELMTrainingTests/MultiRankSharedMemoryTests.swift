import KELMDistributed
import KELMMemory
import KELMMPI
import KELMNumerics
import XCTest
@testable import KELMTraining

/// Ranks on one node share one copy of the entity memory (run under mpirun -np 2 and 3 by the
/// test script: all ranks are on this machine).
final class MultiRankSharedMemoryTests: XCTestCase {
    func testOneCopyPerNodeWithIdenticalRows() throws {
        let world = try MPIRuntime.world()
        let config = try MultiRankTrainingTests.config(microBatch: 1)
        let data = MultiRankTrainingTests.data()
        var shared: NodeSharedMemory? = nil
        let t = try Trainer(config: config, data: data, collective: MPICollective(world), sharedMemory: { floats in
            shared = try NodeSharedMemory.make(world: world, floats: floats)
            return shared.map { ($0.storage, $0) }
        })
        let alone = try Trainer(config: config, data: data, collective: SingleProcess())
        let worst = zip(t.memory.values.toArray(), alone.memory.values.toArray()).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThan(worst, 1e-5, "every rank reads the rows a lone rank computes (up to float rounding)")
        guard world.size > 1, let shared else {
            XCTAssertNil(shared, "one rank on the node: nothing to share")
            return
        }
        XCTAssertFalse(t.memory.values.ownsMemory, "M is a view of the node's window")
        // one copy: what the writer stores, every rank reads after synchronizing
        try shared.synchronize()   // every rank has finished reading the rows above
        try t.memory.write { $0.pointer[5] = 12345 }
        XCTAssertEqual(t.memory.values.pointer[5], 12345)
        XCTAssertEqual(shared.isWriter, shared.node.rank == 0)
        _ = try t.trainStep()
        XCTAssertNoThrow(try t.checkConsistency())
    }

    /// `memory.features: random` in the node's shared window: every rank reads exactly the rows a
    /// lone process draws, and they stay so after a step (never refreshed).
    func testRandomFeaturesAreTheSameOnEveryRank() throws {
        let world = try MPIRuntime.world()
        var config = try MultiRankTrainingTests.config(microBatch: 1)
        config.memory.features = .random
        config.memory.initInterval = 1
        config.memory.maxInterval = 1
        let data = MultiRankTrainingTests.data()
        let t = try Trainer(config: config, data: data, collective: MPICollective(world), sharedMemory: { floats in
            try NodeSharedMemory.make(world: world, floats: floats).map { ($0.storage, $0) }
        })
        let alone = EntityContextMemory(entityCount: data.entityCount, width: config.model.hiddenSize)
        try alone.fillRandom(seed: UInt64(config.data.seed))
        XCTAssertEqual(t.memory.values.toArray(), alone.values.toArray())
        _ = try t.trainStep()
        _ = try t.trainStep()
        XCTAssertEqual(t.memory.values.toArray(), alone.values.toArray())
    }
}
