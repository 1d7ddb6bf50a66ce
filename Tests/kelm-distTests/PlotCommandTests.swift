import Foundation
import XCTest

/// `kelm-dist plot` writes the SVG of the validation curves of run directories or metrics files.
final class PlotCommandTests: XCTestCase {
    func testPlotWritesAnSVGAndRejectsBadInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-plot-cli-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/run-a", withIntermediateDirectories: true)
        let line = { (step: Int, loss: Double) in
            "{\"step\": \(step), \"eval\": {\"split\": \"valid\", \"step\": \(step), \"mlm_loss\": \(loss), \"mention_mlm_loss\": \(loss + 1), "
                + "\"mrr\": 0.01, \"hits@10\": 0.05, \"segments\": 4, \"masked_tokens\": 9, \"mention_masked_tokens\": 3, "
                + "\"lp_positives\": 1, \"triples\": 2, \"candidates\": 8, \"seconds\": 0.5}}\n"
        }
        try ("{\"step\": 0, \"loss\": 3}\n" + line(2, 4.0) + line(4, 3.0)).write(toFile: dir + "/run-a/metrics.jsonl", atomically: true, encoding: .utf8)
        try line(2, 5.0).write(toFile: dir + "/b.jsonl", atomically: true, encoding: .utf8)
        let r = try CommandRunner.run(["plot", dir + "/run-a", "other=" + dir + "/b.jsonl", "--out", dir + "/curves.svg",
                                       "--metrics", "mlm_loss,mrr"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let svg = try String(contentsOfFile: dir + "/curves.svg", encoding: .utf8)
        XCTAssertEqual(svg.components(separatedBy: "<g class=\"panel\"").count - 1, 2)
        XCTAssertTrue(svg.contains(">run-a<"), "a run directory is labelled by its name")
        XCTAssertTrue(svg.contains(">other<"))
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 4)

        let badMetric = try CommandRunner.run(["plot", dir + "/run-a", "--out", dir + "/x.svg", "--metrics", "loss"])
        XCTAssertNotEqual(badMetric.status, 0)
        XCTAssertTrue(badMetric.stderr.contains("unknown metric"), badMetric.stderr)
        let missing = try CommandRunner.run(["plot", dir + "/nothing", "--out", dir + "/x.svg"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nothing"), missing.stderr)
    }
}
