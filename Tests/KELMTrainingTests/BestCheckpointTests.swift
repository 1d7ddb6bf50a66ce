import Foundation
import KELMCheckpoint
import KELMNumerics
import XCTest

/// The `best` pointer (DESIGN §7): written like `latest`, followed by `resolve`, and the file it
/// names survives pruning.
final class BestCheckpointTests: XCTestCase {
    func testPruningKeepsTheBestCheckpoint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-best-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var table = ParameterTable()
        _ = try table.addBias("w", count: 3)
        let params = FlatBuffer(count: table.count)
        func save(_ step: Int) throws -> String {
            try Checkpoint.save(Checkpoint.Contents(step: step, epoch: 0, samplesSeen: step, worldSize: 1, configJSON: "{}",
                                                    table: table, params: params, expAvg: nil, expAvgSq: nil, optimizerStep: step,
                                                    lrPretrained: 0, lrNew: 0, memory: nil),
                                runDirectory: dir, keep: 2)
        }
        _ = try save(1)
        let second = try save(2)
        try Checkpoint.markBest(second)
        for step in 3...5 { _ = try save(step) }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/checkpoints").filter { $0.hasSuffix(".h5") }.sorted()
        XCTAssertEqual(names, ["ckpt-00000002.h5", "ckpt-00000004.h5", "ckpt-00000005.h5"])
        XCTAssertEqual(try Checkpoint.resolve(dir + "/checkpoints/best"), second)
        XCTAssertEqual(try Checkpoint.resolve(dir), dir + "/checkpoints/ckpt-00000005.h5")
        XCTAssertEqual(try Checkpoint.resolve(dir + "/checkpoints/latest"), dir + "/checkpoints/ckpt-00000005.h5")
        XCTAssertEqual(Checkpoint.pointerTarget(directory: dir + "/checkpoints", name: "best"), "ckpt-00000002.h5")
    }
}
