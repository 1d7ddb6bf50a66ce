import Foundation
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMDistributed
import KELMMPI
import KELMModel
import KELMNumerics
import XCTest
@testable import KELMTraining

/// DESIGN §7 / the checkpoint issue: a run interrupted after step k and resumed gives exactly
/// the same parameters, bit for bit, as the uninterrupted run with the same number of ranks
/// (dropout on, memory refreshes on). Run by the test script under mpirun -np 2 and 3.
final class MultiRankResumeTests: XCTestCase {
    static func config() throws -> KELMConfig {
        try ConfigLoader.load(overrides: [
            "model.hidden_size=16", "model.num_layers=2", "model.num_heads=2", "model.ffn_size=24",
            "model.vocab_size=300", "model.max_positions=16", "model.fusion_layers=1", "model.gnn_hidden=8",
            "model.gnn_heads=2", "model.max_tokens=12", "model.max_nodes=6", "model.dropout=0.1", "model.gnn_dropout=0.2",
            "memory.description_tokens=8", "memory.init_interval=2", "memory.max_interval=4", "memory.block_entities=7",
            "train.micro_batch=2", "train.steps=6", "train.warmup_steps=2", "train.param_policy=ffn-routed",
            "train.bucket_mb=0.001", "train.consistency_every=3",
        ])
    }

    func testResumeIsBitExact() throws {
        try resumeIsBitExact(try Self.config())
    }

    /// The same with `memory.dtype: float16`: the memory is saved as float16 and restored bit for bit.
    func testFloat16ResumeIsBitExact() throws {
        var config = try Self.config()
        config.memory.dtype = .float16
        try resumeIsBitExact(config)
    }

    /// With an MLM-adaptation stage (steps 0–2 under `full`, then knowledge-paths with the first
    /// attribution at step 3): resumed before the switch (at step 2) and after it (at step 4).
    func testResumeIsBitExactOnEitherSideOfTheAdaptationSwitch() throws {
        var config = try Self.config()
        config.train.paramPolicy = .knowledgePaths
        config.train.adaptSteps = 3
        try resumeIsBitExact(config, at: 2)
        try resumeIsBitExact(config, at: 4)
    }

    func resumeIsBitExact(_ config: KELMConfig, at k: Int = 3) throws {
        let world = try MPIRuntime.world()
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        let data = MultiRankTrainingTests.data()
        let straight = try Trainer(config: config, data: data, collective: collective, nodeSharing: collective as? NodeSharing)
        for _ in 0..<6 { _ = try straight.trainStep() }

        let first = try Trainer(config: config, data: data, collective: collective, nodeSharing: collective as? NodeSharing)
        for _ in 0..<k { _ = try first.trainStep() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-resume-\(UUID())-rank\(world.rank)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Checkpoint.save(try first.checkpointContents(), runDirectory: dir, keep: 2)
        XCTAssertEqual(try Checkpoint.resolve(dir), path)

        let plan = try ResumePlan(requested: config, path: dir, worldSize: world.size)
        XCTAssertEqual(plan.notes, [])
        XCTAssertEqual(plan.header.memoryDType, config.memory.dtype.storage, "the memory is saved in its own dtype")
        let resumed = try Trainer(config: plan.config, data: data, collective: collective, fillMemory: false, nodeSharing: collective as? NodeSharing)
        try resumed.restore(from: plan.checkpoint)
        XCTAssertEqual(resumed.step, k)
        XCTAssertEqual(resumed.memorySchedule, first.memorySchedule)
        for _ in k..<6 { _ = try resumed.trainStep() }
        func differing(_ a: FlatBuffer, _ b: FlatBuffer) -> Int { zip(a.toArray(), b.toArray()).filter { $0.bitPattern != $1.bitPattern }.count }
        XCTAssertEqual(differing(resumed.model.store.values, straight.model.store.values), 0, "parameters, bit for bit")
        XCTAssertEqual(differing(resumed.optimizer.expAvgSq, straight.optimizer.expAvgSq), 0, "second moments")
        XCTAssertEqual(resumed.memory.dtype, straight.memory.dtype)
        XCTAssertTrue(resumed.memory.storage.bytes.elementsEqual(straight.memory.storage.bytes), "entity memory, bit for bit")
        XCTAssertEqual(resumed.paths?.checksum, straight.paths?.checksum)
        if let steps = resumed.routedOptimizer?.neuronSteps, let reference = straight.routedOptimizer?.neuronSteps {
            XCTAssertTrue((0..<steps.count).allSatisfy { steps.pointer[$0] == reference.pointer[$0] }, "per-neuron step counts")
        }
    }
}

/// Resuming on a different number of ranks: the global batch is kept (the run says what it
/// adjusted) and the parameters match the uninterrupted one-rank run within DESIGN §5's tolerance.
final class MultiRankRescaleTests: XCTestCase {
    func testResumeOnAnotherNumberOfRanks() throws {
        let world = try MPIRuntime.world()
        let N = world.size
        let oneRank = try MultiRankTrainingTests.config(microBatch: 2 * N)
        let data = MultiRankTrainingTests.data()
        let straight = try Trainer(config: oneRank, data: data, collective: SingleProcess())
        for _ in 0..<6 { _ = try straight.trainStep() }
        let first = try Trainer(config: oneRank, data: data, collective: SingleProcess())
        for _ in 0..<3 { _ = try first.trainStep() }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-rescale-\(UUID())-rank\(world.rank)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Checkpoint.save(try first.checkpointContents(), runDirectory: dir, keep: 1)
        // the same configuration on N ranks would make the global batch N times larger
        let plan = try ResumePlan(requested: oneRank, path: dir, worldSize: N)
        XCTAssertEqual(plan.config.train.microBatch * N * plan.config.train.accumulation, 2 * N)
        if N > 1 { XCTAssertEqual(plan.notes.count, 1, "the run says what it adjusted") }
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        let resumed = try Trainer(config: plan.config, data: data, collective: collective, fillMemory: false, nodeSharing: collective as? NodeSharing)
        try resumed.restore(from: plan.checkpoint)
        for _ in 3..<6 { _ = try resumed.trainStep() }
        MultiRankTrainingTests.assertSameParameters(resumed, straight, label: "resumed on \(N) ranks vs 1 rank")
    }

    /// From one rank in the adaptation stage to N ranks across the switch to knowledge-paths.
    func testResumeAcrossTheAdaptationSwitchOnAnotherNumberOfRanks() throws {
        let world = try MPIRuntime.world()
        let N = world.size
        var oneRank = try MultiRankTrainingTests.config(microBatch: 2 * N, policy: "knowledge-paths")
        oneRank.train.adaptSteps = 2
        let data = MultiRankTrainingTests.data()
        let straight = try Trainer(config: oneRank, data: data, collective: SingleProcess())
        for _ in 0..<6 { _ = try straight.trainStep() }
        let first = try Trainer(config: oneRank, data: data, collective: SingleProcess())
        _ = try first.trainStep()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-rescale-adapt-\(UUID())-rank\(world.rank)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Checkpoint.save(try first.checkpointContents(), runDirectory: dir, keep: 1)
        let plan = try ResumePlan(requested: oneRank, path: dir, worldSize: N)
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        let resumed = try Trainer(config: plan.config, data: data, collective: collective, fillMemory: false, nodeSharing: collective as? NodeSharing)
        try resumed.restore(from: plan.checkpoint)
        XCTAssertEqual(resumed.activeStage, 0)
        for _ in 1..<6 { _ = try resumed.trainStep() }
        XCTAssertEqual(resumed.activeStage, 1)
        XCTAssertEqual(resumed.paths?.checksum, straight.paths?.checksum, "the same knowledge paths")
        MultiRankTrainingTests.assertSameParameters(resumed, straight, label: "adaptation stage resumed on \(N) ranks vs 1 rank")
    }

    func testGlobalBatchThatCannotBeSplitIsAClearError() throws {
        let config = try MultiRankTrainingTests.config(microBatch: 3)
        let t = try Trainer(config: config, data: MultiRankTrainingTests.data(), collective: SingleProcess())
        _ = try t.trainStep()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-split-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Checkpoint.save(try t.checkpointContents(), runDirectory: dir, keep: 1)
        XCTAssertThrowsError(try ResumePlan(requested: config, path: dir, worldSize: 2)) { e in
            XCTAssertTrue("\(e)".contains("cannot be split over 2 ranks"), "\(e)")
        }
    }
}

final class MultiRankConsistencyTests: XCTestCase {
    /// A replica that diverged is found and named, on every rank.
    func testDivergedReplicaIsNamed() throws {
        let world = try MPIRuntime.world()
        let collective = MPICollective(world)
        defer { XCTAssertNoThrow(try collective.close()) }
        let t = try Trainer(config: try MultiRankTrainingTests.config(microBatch: 1), data: MultiRankTrainingTests.data(),
                            collective: collective, nodeSharing: collective as? NodeSharing)
        XCTAssertNoThrow(try t.checkConsistency())
        guard world.size > 1 else { return }
        if world.rank == world.size - 1 { try t.model.store.values("gnn.final.h0.bias")[0] += 1 }
        XCTAssertThrowsError(try t.checkConsistency()) { e in
            XCTAssertEqual(e as? ReplicaError, .diverged(step: 0, parameter: "gnn.final.h0.bias", rank: world.size - 1))
        }
    }
}

final class NonFiniteTests: XCTestCase {
    func testNonFiniteLossStopsOrSkips() throws {
        var config = try MultiRankTrainingTests.config(microBatch: 2)
        let t = try Trainer(config: config, data: MultiRankTrainingTests.data(), collective: SingleProcess())
        try t.model.store.values("mlm.bias")[0] = .nan
        XCTAssertThrowsError(try t.trainStep()) { e in
            guard case .nonFiniteLoss(let step, _)? = e as? TrainingError else { return XCTFail("\(e)") }
            XCTAssertEqual(step, 0)
            XCTAssertTrue("\(e)".contains("step 0"))
        }
        config.train.nonfinite = .skip
        let s = try Trainer(config: config, data: MultiRankTrainingTests.data(), collective: SingleProcess())
        try s.model.store.values("mlm.bias")[0] = .nan
        let before = try s.model.store.values("gnn.final.h0.weight").map { $0 }
        let m = try s.trainStep()
        XCTAssertTrue(m.skipped)
        XCTAssertEqual(try s.model.store.values("gnn.final.h0.weight").map { $0 }, before, "a skipped step updates nothing")
        XCTAssertEqual(s.step, 1)
    }
}
