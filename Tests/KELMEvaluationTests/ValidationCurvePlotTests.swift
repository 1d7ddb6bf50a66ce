import Foundation
import XCTest
import KELMEvaluation
@testable import KELMEvaluation
import KELMTraining
import KELMTrainingTestSupport

/// `ValidationCurve` reads the evaluation lines of a metrics.jsonl; `ValidationCurvePlot` draws
/// them as an SVG with one panel per metric and one line per run.
final class ValidationCurvePlotTests: XCTestCase {
    var directory = ""

    override func setUp() {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-plot-\(UUID())").path
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func evaluation(step: Int, mlm: Double, mention: Double?, mrr: Double?) throws -> String {
        var r = EvaluationResult(split: "valid")
        r.step = step
        r.mlmLoss = mlm
        r.mentionMLMLoss = mention
        r.mrr = mrr
        r.hits10 = mrr.map { min(1, 3 * $0) }
        let data = try JSONEncoder().encode(EvaluationLogRecord(step: step, eval: r))
        return String(decoding: data, as: UTF8.self)
    }

    func write(_ name: String, _ lines: [String]) throws -> String {
        let path = directory + "/" + name
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testReadsOnlyEvaluationLinesAndSkipsNulls() throws {
        let path = try write("a.jsonl", [
            "{\"step\": 0, \"loss\": 3.0, \"mlm_loss\": 2.5}",
            try evaluation(step: 50, mlm: 4.0, mention: 5.0, mrr: nil),
            "{\"step\": 60, \"loss\": 2.0, \"mlm_loss\": 1.5}",
            try evaluation(step: 100, mlm: 3.5, mention: 4.5, mrr: 0.02),
        ])
        let curve = try ValidationCurve(label: "a", metricsFile: path)
        XCTAssertEqual(curve.points.map(\.step), [50, 100])
        XCTAssertEqual(curve.series(.mlmLoss).map(\.value), [4.0, 3.5])
        XCTAssertEqual(curve.series(.mrr).map(\.step), [100], "null values are left out")
    }

    func testBadInputNamesFileAndLine() throws {
        let broken = try write("broken.jsonl", [try evaluation(step: 1, mlm: 1, mention: 1, mrr: 0.1), "{not json"])
        XCTAssertThrowsError(try ValidationCurve(label: "x", metricsFile: broken)) { error in
            XCTAssertEqual("\(error)", "\(broken):2: is not a JSON object")
        }
        let badEval = try write("bad-eval.jsonl", ["{\"step\": 3, \"eval\": {\"mlm_loss\": \"high\"}}"])
        XCTAssertThrowsError(try ValidationCurve(label: "x", metricsFile: badEval)) { error in
            XCTAssertTrue("\(error)".hasPrefix("\(badEval):1: an evaluation line that does not decode"), "\(error)")
        }
        let noEval = try write("train-only.jsonl", ["{\"step\": 0, \"loss\": 3.0}"])
        XCTAssertThrowsError(try ValidationCurve(label: "x", metricsFile: noEval)) { error in
            XCTAssertTrue("\(error)".contains("eval.every"), "\(error)")
        }
        XCTAssertThrowsError(try ValidationCurve(label: "x", metricsFile: directory + "/missing.jsonl")) { error in
            XCTAssertTrue("\(error)".contains("cannot be read"), "\(error)")
        }
        XCTAssertThrowsError(try ValidationCurvePlot(curves: []))
    }

    func testSVGHasOnePanelPerMetricAndOneLinePerRun() throws {
        let a = try ValidationCurve(label: "full", metricsFile: try write("a.jsonl", [
            try evaluation(step: 50, mlm: 4.0, mention: 5.0, mrr: 0.01), try evaluation(step: 100, mlm: 3.0, mention: 4.0, mrr: 0.02),
            try evaluation(step: 150, mlm: 2.5, mention: 3.5, mrr: 0.04)]))
        let b = try ValidationCurve(label: "lm <alone>", metricsFile: try write("b.jsonl", [
            try evaluation(step: 50, mlm: 4.2, mention: 5.5, mrr: nil), try evaluation(step: 100, mlm: 3.3, mention: 4.4, mrr: nil)]))
        let svg = try ValidationCurvePlot(curves: [a, b], title: "t & u").svg()
        XCTAssertTrue(svg.hasPrefix("<?xml"))
        XCTAssertTrue(svg.hasSuffix("</svg>\n"))
        XCTAssertEqual(svg.components(separatedBy: "<g class=\"panel\"").count - 1, 4)
        for metric in ["mlm_loss", "mention_mlm_loss", "mrr", "hits@10"] {
            XCTAssertTrue(svg.contains("data-metric=\"\(metric)\""), metric)
        }
        // mlm_loss and mention: two lines each; mrr and hits@10: only run a has values
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 2 + 2 + 1 + 1)
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 5 + 5 + 3 + 3)
        XCTAssertTrue(svg.contains("lm &lt;alone&gt;"), "labels are escaped")
        XCTAssertTrue(svg.contains("t &amp; u"))
        XCTAssertFalse(svg.contains("nan"), "no NaN coordinates")
        // the lowest loss is drawn lowest (largest y) within its panel
        let points = try XCTUnwrap(svg.components(separatedBy: "data-run=\"full\"").dropFirst().first)
        let list = try XCTUnwrap(points.components(separatedBy: "points=\"").dropFirst().first?.components(separatedBy: "\"").first)
        let ys = list.split(separator: " ").map { Double($0.split(separator: ",")[1])! }
        XCTAssertEqual(ys, ys.sorted(), "falling loss → growing y in SVG coordinates")
        // a single evaluation still plots
        let single = try ValidationCurvePlot(curves: [ValidationCurve(label: "one", points: [a.points[0]])]).svg()
        XCTAssertEqual(single.components(separatedBy: "<circle").count - 1, 4, "one point in each of the 4 panels")
        XCTAssertFalse(single.contains("nan"))
    }

    func testTicksAreNiceAndCoverTheRange() {
        XCTAssertEqual(ValidationCurvePlot.ticks(0, 200), [0, 50, 100, 150, 200])
        XCTAssertEqual(ValidationCurvePlot.ticks(2.3, 7.9), [3, 4, 5, 6, 7])
        let small = ValidationCurvePlot.ticks(0.0012, 0.0051)
        XCTAssertTrue(small.allSatisfy { $0 >= 0.0012 && $0 <= 0.0051 })
        XCTAssertGreaterThanOrEqual(small.count, 3)
        XCTAssertEqual(ValidationCurvePlot.label(0.05), "0.05")
        XCTAssertEqual(ValidationCurvePlot.label(150), "150")
    }
}
