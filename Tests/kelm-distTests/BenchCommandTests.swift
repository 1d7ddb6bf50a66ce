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
        // DESIGN §11 by hand for L 6, d 384, d_ff 1536, V 30522, B·T = 32, 4 logit rows:
        let n = 32.0, d = 384.0, ff = 1536.0, V = 30522.0
        let layer = 2 * (4 * d * d + 2 * d * ff) * n + 4 * 2 * 16 * 16 * d
        let expected = 6 * 3 * layer + 6 * (d * d + d * V) * 4
        XCTAssertEqual(object["gflop_per_step"] as? Double ?? 0, expected * 1e-9, accuracy: 1e-9)
        let gflops = object["gflops"] as! Double, sps = object["sec_per_step"] as! Double
        XCTAssertEqual(gflops * sps, expected * 1e-9, accuracy: 1e-6, "GFLOP/s is the count over the median step")
        let phases = try XCTUnwrap(object["phase_seconds"] as? [String: Double])
        for phase in ["attention", "ffn", "heads", "optimizer", "embeddings"] {
            XCTAssertGreaterThan(phases[phase] ?? 0, 0, phase)
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

final class BenchAllReduceCommandTests: XCTestCase {
    /// `bench allreduce --json` on one process: the buffer size, the repeats, a positive time and
    /// algorithm bandwidth, no bus traffic at one rank (2(n−1)/n = 0), the ring algorithm.
    /// (At 3 ranks over TCP, Tests/multihost checks the bytes each link carries.)
    func testBenchAllReduceJson() throws {
        let r = try CommandRunner.run(["bench", "allreduce", "--mb", "0.4", "--repeats", "3", "--warmup", "0", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["ranks"] as? Int, 1)
        XCTAssertEqual(object["bytes"] as? Int, 400_000)
        XCTAssertEqual(object["repeats"] as? Int, 3)
        let seconds = try XCTUnwrap(object["seconds"] as? Double)
        let algbw = try XCTUnwrap(object["algbw_gbit_s"] as? Double)
        XCTAssertGreaterThan(seconds, 0)
        XCTAssertEqual(algbw, 400_000 * 8 / seconds / 1e9, accuracy: 1e-9 * algbw)
        XCTAssertEqual(object["busbw_gbit_s"] as? Double, 0)
        XCTAssertEqual(object["algorithm"] as? String, "ring")
    }

    func testBadOptionsAreErrors() throws {
        for args in [["--mb", "0"], ["--mb", "5000"], ["--repeats", "0"], ["--warmup", "-1"]] {
            let r = try CommandRunner.run(["bench", "allreduce"] + args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains("--"), r.stderr)
        }
    }
}

final class BenchValidationTests: XCTestCase {
    func testBadOptionsAreErrors() throws {
        for args in [["--steps", "0"], ["--tokens", "2"], ["--tokens", "600"], ["--batch", "0"]] {
            let r = try CommandRunner.run(["bench", "lm"] + args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains("--"), r.stderr)
        }
    }
}
