import Foundation
import XCTest
@testable import KELMTraining

/// metrics.jsonl across a kill and a resume: the records of the steps the checkpoint holds stay,
/// later ones and a line cut short go, new records follow.
final class MetricsLogTests: XCTestCase {
    struct Record: Codable, Equatable { var step: Int; var loss: Double }
    struct Eval: Codable, Equatable { var step: Int; var eval: [String: Double] }

    func testResumeKeepsTheStepsOfTheCheckpoint() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-metrics-\(UUID()).jsonl").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let first = try MetricsLog(path: path)
        for step in 0..<6 {
            try first.append(Record(step: step, loss: Double(step)))
            if step == 3 { try first.append(Eval(step: 4, eval: ["mlm_loss": 1.5])) }
        }
        try first.close()
        // a kill in the middle of a line
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"loss\":6,\"st".utf8))
        try handle.close()

        // resumed from the checkpoint after 4 steps: steps 0…3 and the evaluation at step count 4 stay
        let resumed = try MetricsLog(path: path, resumingAt: 4)
        try resumed.append(Record(step: 4, loss: 40))
        try resumed.close()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
        XCTAssertEqual(lines, [
            "{\"loss\":0,\"step\":0}", "{\"loss\":1,\"step\":1}", "{\"loss\":2,\"step\":2}", "{\"loss\":3,\"step\":3}",
            "{\"eval\":{\"mlm_loss\":1.5},\"step\":4}", "{\"loss\":40,\"step\":4}",
        ])

        // a fresh run starts the file again
        let fresh = try MetricsLog(path: path)
        try fresh.close()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), Data())
    }
}
