import Foundation
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMEvaluation
import KELMHDF5
import KELMMemory
import KELMNumerics
import Logging
import KELMTrainingTestSupport
import XCTest
@testable import KELMTraining

/// `train`'s periodic evaluation as `TrainingRun` runs it on the small prepared dataset of
/// `EvaluationFixture`: the `eval.max_*` limits, `best` across a resume, and the fixed random
/// entity features of `memory.features: random`.
final class TrainingRunEvaluationTests: XCTestCase {
    nonisolated(unsafe) static var directory = ""
    nonisolated(unsafe) static var dataPath = ""

    override class func setUp() {
        super.setUp()
        (directory, dataPath) = EvaluationFixture.prepareForTestClass("training-run-eval")
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
        super.tearDown()
    }

    func config(steps: Int, overrides: [String] = []) throws -> KELMConfig {
        var c = try EvaluationFixture.config()
        c.data.path = Self.dataPath
        c.train.steps = steps
        c.eval.every = 2
        c.checkpoint.every = 0
        return overrides.isEmpty ? c : try ConfigLoader.load(yaml: try c.yaml(), overrides: overrides)
    }

    @discardableResult
    func train(_ config: KELMConfig, into run: String, resume: String? = nil) throws -> TrainingRun.Summary {
        let data = try DatasetTrainingData(path: Self.dataPath, maxNodes: config.model.maxNodes, seed: UInt64(config.data.seed))
        var logger = Logger(label: "test")
        logger.logLevel = .error
        var r = TrainingRun(config: config, data: data, collective: SingleProcess(), initFrom: nil, runDirectory: run, logger: logger)
        if let resume { r.resume = try ResumePlan(requested: config, path: resume, worldSize: 1) }
        return try r.run()
    }

    func evaluations(_ run: String) throws -> [EvaluationLogRecord] {
        try ValidationCurve(label: "run", metricsFile: run + "/metrics.jsonl").points
    }

    func bestPointer(_ run: String) -> String? { Checkpoint.pointerTarget(directory: run + "/checkpoints", name: "best") }

    /// `eval.max_entities/max_segments/max_triples` give, during training, exactly what
    /// `kelm-dist eval --max-entities/--max-segments/--max-triples` gives on the checkpoint.
    func testEvaluationLimitsMatchTheEvalCommand() throws {
        let run = Self.directory + "/limits"
        let config = try config(steps: 2, overrides: ["eval.max_entities=9", "eval.max_segments=5", "eval.max_triples=2"])
        try train(config, into: run)
        let logged = try XCTUnwrap(try evaluations(run).last)
        XCTAssertEqual(logged.step, 2)
        XCTAssertEqual(logged.eval.segments, 5)
        XCTAssertEqual(logged.eval.triples, 2)
        XCTAssertGreaterThanOrEqual(logged.eval.candidates, 9)
        var job = CheckpointEvaluation(checkpoint: run)
        job.options.maxEntities = 9
        job.options.maxSegments = 5
        job.options.maxTriples = 2
        var direct = try job.run(collective: SingleProcess()).result
        var fromTraining = logged.eval
        direct.seconds = 0
        fromTraining.seconds = 0
        XCTAssertEqual(fromTraining, direct)
        // and without limits the evaluation is larger
        let full = Self.directory + "/no-limits"
        try train(try self.config(steps: 2), into: full)
        let unlimited = try XCTUnwrap(try evaluations(full).last)
        XCTAssertGreaterThan(unlimited.eval.segments, 5)
        XCTAssertGreaterThan(unlimited.eval.triples, 2)
        XCTAssertEqual(unlimited.eval.candidates, 30)
    }

    /// Every checkpoint records the best evaluation so far; after `--resume` an evaluation must
    /// beat it to move `best`: a record of 1e-6 keeps `best` where it was, a record of 1e6 lets the
    /// first evaluation after the resume take it.
    func testBestSurvivesResume() throws {
        let first = Self.directory + "/best-first"
        try train(try config(steps: 2), into: first)
        let ckpt2 = first + "/checkpoints/ckpt-00000002.h5"
        XCTAssertEqual(bestPointer(first), "ckpt-00000002.h5")
        let logged = try XCTUnwrap(try evaluations(first).last?.eval.mlmLoss)
        let header = try Checkpoint.open(ckpt2)
        try header.0.close()
        XCTAssertEqual(header.1.bestEvaluation, Checkpoint.BestEvaluation(mlmLoss: logged, step: 2, split: "valid"))

        for (record, expectedBest) in [(1e-6, "ckpt-00000002.h5"), (1e6, "ckpt-00000004.h5")] {
            let run = Self.directory + "/best-resumed-\(record)"
            try FileManager.default.copyItem(atPath: first, toPath: run)
            let f = try HDF5File.open(run + "/checkpoints/ckpt-00000002.h5", mode: .readWrite)
            try f.withGroup("/evaluation") { try $0.setAttribute("best_mlm_loss", record) }
            try f.close()
            try train(try config(steps: 4), into: run, resume: run)
            let after = try evaluations(run)
            XCTAssertEqual(after.map(\.step), [2, 4], "step 2's record stays (metrics.jsonl survives a resume); the resumed run evaluates at step 4")
            XCTAssertEqual(bestPointer(run), expectedBest, "stored best \(record)")
            let (g, h) = try Checkpoint.open(run + "/checkpoints/ckpt-00000004.h5")
            try g.close()
            let newLoss = try XCTUnwrap(after.last?.eval.mlmLoss)
            XCTAssertEqual(h.bestEvaluation, record < newLoss ? Checkpoint.BestEvaluation(mlmLoss: record, step: 2, split: "valid")
                                                              : Checkpoint.BestEvaluation(mlmLoss: newLoss, step: 4, split: "valid"))
        }
    }

    /// A checkpoint written before evaluation (no `/evaluation` group) loads with no best record.
    func testCheckpointWithoutEvaluationHasNoBestRecord() throws {
        let run = Self.directory + "/no-eval"
        var c = try config(steps: 1)
        c.eval.every = 0
        try train(c, into: run)
        let (f, h) = try Checkpoint.open(run + "/checkpoints/ckpt-00000001.h5")
        try f.close()
        XCTAssertNil(h.bestEvaluation)
        XCTAssertNil(TrainingRun.bestSoFar(nil, split: "valid"))
        XCTAssertNil(TrainingRun.bestSoFar(Checkpoint.BestEvaluation(mlmLoss: 1, step: 3, split: "test"), split: "valid"),
                     "a record of another split is not comparable")
        XCTAssertEqual(TrainingRun.bestSoFar(Checkpoint.BestEvaluation(mlmLoss: 1.5, step: 3, split: "valid"), split: "valid")?.mlmLoss, 1.5)
    }

    /// `memory.features: random`: the features are the seeded N(0, 1) rows, used from step 0 and
    /// never refreshed (with `memory`, the same schedule does refresh them).
    func testRandomFeaturesAreFixed() throws {
        var c = try config(steps: 3, overrides: ["memory.features=random", "memory.init_interval=1", "memory.max_interval=1"])
        c.eval.every = 0
        let data = try DatasetTrainingData(path: Self.dataPath, maxNodes: c.model.maxNodes, seed: UInt64(c.data.seed))
        let trainer = try Trainer(config: c, data: data, collective: SingleProcess())
        let expected = EntityContextMemory(entityCount: data.entityCount, width: c.model.hiddenSize)
        try expected.fillRandom(seed: UInt64(c.data.seed))
        XCTAssertEqual(trainer.memory.storage.floats(), expected.storage.floats())
        for _ in 0..<3 { _ = try trainer.trainStep() }
        XCTAssertEqual(trainer.memory.storage.floats(), expected.storage.floats(), "never refreshed")
        XCTAssertEqual(trainer.memorySchedule.refreshCount, 0)

        c.memory.features = .memory
        let refreshed = try Trainer(config: c, data: data, collective: SingleProcess())
        let filled = refreshed.memory.storage.floats()
        XCTAssertNotEqual(filled, expected.storage.floats())
        for _ in 0..<3 { _ = try refreshed.trainStep() }
        XCTAssertGreaterThan(refreshed.memorySchedule.refreshCount, 0)
        XCTAssertNotEqual(refreshed.memory.storage.floats(), filled, "the memory is refreshed")
    }
}
