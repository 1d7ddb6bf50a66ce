import Foundation
import KELMCheckpoint
import KELMNumerics
import KELMHDF5
import Logging
import XCTest
@testable import KELMTraining

/// What a resume on another number of ranks says (issue 20, item 10: 3 → 1 ranks with the
/// global batch kept by the configuration printed nothing).
final class ResumePlanTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-resume-plan-\(UUID())").path
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    /// A 1-step checkpoint of micro-batch 2, its header rewritten to say `worldSize` ranks.
    func checkpoint(worldSize: Int) throws -> String {
        let config = try MultiRankTrainingTests.config(microBatch: 2)
        let t = try MultiRankTrainingTests.train(config, collective: SingleProcess(), steps: 1)
        let path = try Checkpoint.save(try t.checkpointContents(), runDirectory: directory, keep: 1)
        let f = try HDF5File.open(path, mode: .readWrite)
        try f.setAttribute("world_size", Int64(worldSize))
        let crc = Checkpoint.headerChecksum(
            format: try f.stringAttribute("format"), formatVersion: try f.intAttribute("format_version"),
            step: try f.intAttribute("step"), epoch: try f.intAttribute("epoch"), samplesSeen: try f.intAttribute("samples_seen"),
            worldSize: worldSize, config: try f.stringAttribute("config"), kelmVersion: try f.stringAttribute("kelm_version"))
        try f.setAttribute(Checkpoint.headerChecksumAttribute, Int64(crc))
        try f.close()
        return path
    }

    func testEveryChangeOfTheNumberOfRanksIsSaid() throws {
        _ = try checkpoint(worldSize: 3)  // global batch 2 × 3 × 1 = 6
        // the configuration already keeps the global batch: said, nothing adjusted
        var kept = try MultiRankTrainingTests.config(microBatch: 2, accumulation: 3)
        var plan = try ResumePlan(requested: kept, path: directory, worldSize: 1)
        XCTAssertEqual(plan.notes, ["resuming on 1 rank(s) instead of 3: micro-batch 2 × 1 rank(s) × accumulation 3 keeps the global batch of 6"])
        XCTAssertEqual(plan.config.train.accumulation, 3)
        // the configuration of the 3-rank job: the accumulation is adjusted, and said
        kept = try MultiRankTrainingTests.config(microBatch: 2)
        plan = try ResumePlan(requested: kept, path: directory, worldSize: 1)
        XCTAssertEqual(plan.notes, ["resuming on 1 rank(s) instead of 3: accumulation 1 → 3 keeps the global batch of 6"])
        XCTAssertEqual(plan.config.train.accumulation, 3)
        // the same number of ranks: nothing to say
        plan = try ResumePlan(requested: kept, path: directory, worldSize: 3)
        XCTAssertEqual(plan.notes, [])
    }

    /// A job killed before its first checkpoint and requeued with the same `--resume DIR --out DIR`
    /// (the reliability script's early kills): nothing to continue, so it starts at step 0 there,
    /// replacing the records of its unsaved steps; any other use of --resume still needs a checkpoint.
    func testResumingItsOwnRunDirectoryBeforeTheFirstCheckpointStartsAtStepZero() throws {
        let run = directory + "/run", fm = FileManager.default
        try fm.createDirectory(atPath: run + "/checkpoints", withIntermediateDirectories: true)
        try "model: {}\n".write(toFile: run + "/config.yaml", atomically: true, encoding: .utf8)
        try "{\"step\":0}\n{\"step\":1}\n{\"step\":2}\n".write(toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
        var config = try MultiRankTrainingTests.config(microBatch: 2)
        config.train.steps = 2
        config.checkpoint.every = 0
        XCTAssertNil(try ResumePlan.plan(requested: config, path: run, runDirectory: run + "/", worldSize: 1))
        try fm.createSymbolicLink(atPath: directory + "/link", withDestinationPath: run)
        XCTAssertNil(try ResumePlan.plan(requested: config, path: directory + "/link", runDirectory: run, worldSize: 1))
        // resuming it into another directory has nothing to resume from: the checkpoint error
        XCTAssertThrowsError(try ResumePlan.plan(requested: config, path: run, runDirectory: directory + "/other", worldSize: 1)) {
            XCTAssertTrue("\($0)".contains("checkpoints/latest"), "\($0)")
        }

        var logger = Logger(label: "test")
        logger.logLevel = .error
        var job = TrainingRun(config: config, data: MultiRankTrainingTests.data(), collective: SingleProcess(), initFrom: nil,
                              runDirectory: run, logger: logger)
        // a new run is refused the directory; the restart replaces what it holds
        XCTAssertThrowsError(try job.run()) { XCTAssertTrue($0 is RunDirectoryError, "\($0)") }
        job.restartsBeforeFirstCheckpoint = true
        let summary = try job.run()
        XCTAssertEqual(summary.steps, 2)
        let steps = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["step"] as? Int
        }
        XCTAssertEqual(steps, [0, 1])
        // now it holds a checkpoint: --resume continues from it
        let plan = try ResumePlan.plan(requested: config, path: run, runDirectory: run, worldSize: 1)
        XCTAssertEqual(plan?.header.step, 2)
    }
}
