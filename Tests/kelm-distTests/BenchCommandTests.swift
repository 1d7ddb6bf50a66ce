import Foundation
import XCTest

final class BenchCommandTests: XCTestCase {
    /// `bench lm --json` prints one JSON object with the documented keys and consistent values.
    func testBenchLMJson() throws {
        let r = try CommandRunner.run(["bench", "lm", "--batch", "2", "--tokens", "16", "--steps", "2",
                                       "--warmup", "1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        for key in ["tokens_per_s", "sec_per_step", "gflops", "sgemm_peak_gflops", "fraction_of_peak"] {
            let value = try XCTUnwrap(object[key] as? Double, key)
            XCTAssertGreaterThan(value, 0, key)
        }
        let tps = object["tokens_per_s"] as! Double, sps = object["sec_per_step"] as! Double
        XCTAssertEqual(tps * sps, 32, accuracy: 1e-6, "tokens/s × s/step = tokens per step")
        let gflops = object["gflops"] as! Double, peak = object["sgemm_peak_gflops"] as! Double
        XCTAssertEqual(object["fraction_of_peak"] as! Double, gflops / peak, accuracy: 1e-9)
        let phases = try XCTUnwrap(object["phase_fraction"] as? [String: Double])
        XCTAssertEqual(phases.values.reduce(0, +), 1, accuracy: 0.05)
        for phase in ["attention", "ffn", "heads", "optimizer", "embeddings"] {
            XCTAssertNotNil(phases[phase], phase)
        }
        // 15% of the 14 maskable tokens, rounded: 2 per segment
        XCTAssertEqual(object["logit_rows"] as? Int, 4)
    }

    func testBenchLMAllPositions() throws {
        let r = try CommandRunner.run(["bench", "lm", "--batch", "1", "--tokens", "8", "--steps", "1",
                                       "--warmup", "0", "--all-positions", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["logit_rows"] as? Int, 8)
    }
}
