import Foundation
import Logging
import KELMNumerics
import XCTest
@testable import KELMTraining

/// `metrics.jsonl` records the entity-memory refreshes: at a refresh step its time, the entities
/// it covered and their rate; nothing at other steps.
final class MemoryRefreshMetricsTests: XCTestCase {
    func testRefreshStepsCarryTimeAndEntities() throws {
        var config = try MultiRankTrainingTests.config(microBatch: 2)
        config.memory.initInterval = 2      // refreshes at steps 2 and 4
        config.memory.blockEntities = 7
        config.memory.scope = .all
        let t = try Trainer(config: config, data: MultiRankTrainingTests.data(), collective: SingleProcess())
        let steps = try (0..<5).map { _ in try t.trainStep() }
        for m in steps {
            if m.step == 2 || m.step == 4 {
                XCTAssertEqual(m.memory_refreshed_entities, 7, "step \(m.step)")
                let ms = try XCTUnwrap(m.memory_refresh_ms, "step \(m.step)")
                XCTAssertGreaterThan(ms, 0)
                XCTAssertEqual(try XCTUnwrap(m.memory_entities_per_s), 7 / (ms * 1e-3), accuracy: 1e-6 * 7 / (ms * 1e-3))
            } else {
                XCTAssertNil(m.memory_refresh_ms, "step \(m.step)")
                XCTAssertNil(m.memory_refreshed_entities, "step \(m.step)")
            }
        }
        XCTAssertEqual(t.memorySchedule.refreshCount, 2)
        let line = String(decoding: try JSONEncoder().encode(steps[2]), as: UTF8.self)
        XCTAssertTrue(line.contains("\"memory_refresh_ms\""), line)
        XCTAssertTrue(line.contains("\"memory_refreshed_entities\":7"), line)
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(steps[1]), as: UTF8.self).contains("memory_refresh"))
    }

    /// `metrics.jsonl` holds every step that refreshed the memory, also between `log.every` steps.
    func testRefreshStepsAreLoggedWhateverLogEvery() throws {
        var config = try MultiRankTrainingTests.config(microBatch: 2)
        config.memory.initInterval = 2      // refreshes at steps 2 and 4
        config.memory.blockEntities = 7
        config.memory.scope = .all
        config.train.steps = 6
        config.log.every = 100
        config.checkpoint.every = 0
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-refresh-log-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: run) }  // test scratch folder
        var logger = Logger(label: "test")
        logger.logLevel = .error
        _ = try TrainingRun(config: config, data: MultiRankTrainingTests.data(), collective: SingleProcess(), initFrom: nil,
                            runDirectory: run, logger: logger).run()
        let records = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
            .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let refreshed = records.filter { $0["memory_refresh_ms"] != nil }.compactMap { $0["step"] as? Int }
        XCTAssertEqual(refreshed, [2, 4], "the refresh steps are logged")
        XCTAssertEqual(records.compactMap { $0["step"] as? Int }, [2, 4, 5], "the refreshes and the last step")
    }
}
