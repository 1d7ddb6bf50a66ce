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

    /// `bench train --json` on one process: efficiency 1 against itself, the phases of the step
    /// measured (and "alone" the same run), and under `full` every gradient byte all-reduced in
    /// buckets no larger than the cap (the tied word embedding, 47 MB, is cut into pieces).
    func testBenchTrainJson() throws {
        let r = try CommandRunner.run(["bench", "train", "--policy", "full", "--batch", "1", "--steps", "1",
                                       "--warmup", "0", "--bucket-mb", "1", "--rounds", "2", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["ranks"] as? Int, 1)
        XCTAssertEqual(object["rounds"] as? Int, 2)
        XCTAssertEqual(object["efficiency"] as? Double, 1)
        XCTAssertEqual(object["efficiency_lowest_round"] as? Double, 1)
        XCTAssertEqual(object["efficiency_highest_round"] as? Double, 1)
        XCTAssertEqual(object["tokens_per_s_per_rank"] as? Double, object["tokens_per_s_alone"] as? Double)
        XCTAssertEqual(object["tokens_per_s_concurrent_alone"] as? Double, object["tokens_per_s_alone"] as? Double)
        XCTAssertEqual(object["contention_ceiling"] as? Double, 1)
        let phases = try XCTUnwrap(object["phases"] as? [String: Double])
        for phase in ["forward_ms", "backward_ms", "optimizer_ms"] { XCTAssertGreaterThan(phases[phase] ?? 0, 0, phase) }
        XCTAssertEqual(phases, object["phases_alone"] as? [String: Double])
        XCTAssertEqual(phases["backward_ms"], object["backward_ms"] as? Double)
        // one rank: its own wait is both the shortest and the longest
        XCTAssertEqual(object["exposed_comm_ms"] as? Double, object["exposed_comm_longest_wait_ms"] as? Double)
        XCTAssertEqual(phases["exposed_comm_ms"], object["exposed_comm_ms"] as? Double)
        let buckets = try XCTUnwrap(object["buckets"] as? [[String: Any]])
        let sizes = buckets.compactMap { $0["bytes"] as? Int }
        XCTAssertEqual(sizes.count, buckets.count)
        XCTAssertTrue(sizes.allSatisfy { $0 > 0 && $0 <= 1 << 20 }, "bucket bytes \(sizes)")
        let all = try XCTUnwrap(object["bytes_allreduced"] as? Int)
        XCTAssertEqual(sizes.reduce(0, +), all)
        XCTAssertEqual(all, object["bytes_dense_equivalent"] as? Int, "full: every parameter reduced densely")
        XCTAssertGreaterThan(all, 30522 * 384 * 4, "the word embedding alone is 47 MB")
        XCTAssertEqual(object["allreduce"] as? String, "none", "one rank: nothing crosses")
    }

    func testBenchTrainRejectsAnUnknownTransport() throws {
        let r = try CommandRunner.run(["bench", "train", "--allreduce", "nccl"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("--allreduce must be one of auto, mpi, hierarchical, not nccl"), r.stderr)
    }

    func testBenchLMAllPositions() throws {
        let r = try CommandRunner.run(["bench", "lm", "--batch", "1", "--tokens", "8", "--steps", "1",
                                       "--warmup", "0", "--all-positions", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["logit_rows"] as? Int, 8)
    }
}

final class BenchMemoryCommandTests: XCTestCase {
    static let tinyConfig = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../configs/tiny.yaml").standardized.path

    /// `bench memory --json`: refresh time and rate, the schedule's amortised cost and the
    /// on-the-fly comparison, consistent with one another; `--dtype float16` halves the bytes.
    func testBenchMemoryJson() throws {
        var bytes: [String: Int] = [:]
        for dtype in ["float32", "float16"] {
            let r = try CommandRunner.run(["bench", "memory", "--config", Self.tinyConfig, "--set", "data.path=synthetic",
                                           "--set", "train.steps=100", "--set", "memory.block_entities=50",
                                           "--set", "memory.scope=all", "--set", "memory.init_interval=10", "--set", "memory.growth=2",
                                           "--set", "memory.repeats=3", "--set", "memory.max_interval=500", "--entities", "40", "--repeats", "1", "--dtype", dtype, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
            XCTAssertEqual(o["benchmark"] as? String, "memory")
            XCTAssertEqual(o["dtype"] as? String, dtype)
            XCTAssertEqual(o["ranks"] as? Int, 1)
            XCTAssertEqual(o["entities"] as? Int, 40)
            XCTAssertEqual(o["width"] as? Int, 32)
            let total = try XCTUnwrap(o["entities_total"] as? Int)
            XCTAssertEqual(o["memory_bytes"] as? Int, total * 32 * (dtype == "float32" ? 4 : 2))
            bytes[dtype] = o["memory_bytes"] as? Int
            let refresh = try XCTUnwrap(o["refresh_s"] as? Double)
            XCTAssertGreaterThan(refresh, 0)
            XCTAssertEqual(try XCTUnwrap(o["entities_per_s"] as? Double), 40 / refresh, accuracy: 1e-6 * 40 / refresh)
            // T(i) = 10,10,10,20,20,20,… : refreshes at steps 10, 20, 30, 50, 70, 90 within 100 steps
            XCTAssertEqual(o["refreshes"] as? Int, 6)
            XCTAssertEqual(o["entities_per_refresh"] as? Int, min(50, total))
            let perStep = try XCTUnwrap(o["refresh_s_per_step"] as? Double)
            XCTAssertEqual(perStep, 6 * Double(min(50, total)) * refresh / 40 / 100, accuracy: 1e-9)
            let nodes = try XCTUnwrap(o["entity_nodes_per_step"] as? Double)
            XCTAssertGreaterThan(nodes, 0)
            let onTheFly = try XCTUnwrap(o["onthefly_s_per_step"] as? Double)
            XCTAssertEqual(onTheFly, nodes * refresh / 40, accuracy: 1e-9)
            XCTAssertEqual(try XCTUnwrap(o["encoding_saving"] as? Double), onTheFly / perStep, accuracy: 1e-6 * onTheFly / perStep)
        }
        XCTAssertEqual(bytes["float16"].map { $0 * 2 }, bytes["float32"])
        let bad = try CommandRunner.run(["bench", "memory", "--config", Self.tinyConfig, "--dtype", "float8"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--dtype must be float32 or float16, not float8"), bad.stderr)
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

final class BenchCheckpointCommandTests: XCTestCase {
    /// `bench checkpoint --json`: every tensor counted, the file at least that large, one time per
    /// repeat, float16 memory half the bytes, the scratch folder removed.
    func testBenchCheckpointJson() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-bench-ckpt-test-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }  // test scratch folder
        var tensorBytes: [String: Int] = [:]
        for dtype in ["float32", "float16"] {
            let r = try CommandRunner.run(["bench", "checkpoint", "--config", BenchMemoryCommandTests.tinyConfig, "--set", "memory.dtype=\(dtype)",
                                           "--entities", "50", "--repeats", "2", "--dir", dir, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let o = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
            XCTAssertEqual(o["benchmark"] as? String, "checkpoint")
            XCTAssertEqual(o["memory_dtype"] as? String, dtype)
            XCTAssertEqual(o["entities"] as? Int, 50)
            XCTAssertEqual(o["width"] as? Int, 32)
            let parameters = try XCTUnwrap(o["parameters"] as? Int)
            let tensors = try XCTUnwrap(o["tensor_bytes"] as? Int)
            XCTAssertEqual(tensors, 12 * parameters + 50 * 32 * (dtype == "float32" ? 4 : 2))
            tensorBytes[dtype] = tensors
            XCTAssertGreaterThan(try XCTUnwrap(o["file_bytes"] as? Int), tensors, "the file holds every tensor")
            XCTAssertEqual((o["save_s"] as? [Double])?.count, 2)
            XCTAssertEqual((o["load_s"] as? [Double])?.count, 2)
            XCTAssertTrue((o["save_s"] as? [Double] ?? []).allSatisfy { $0 > 0 })
            // the scratch folder is removed
            XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
        }
        XCTAssertEqual(tensorBytes["float32"]! - tensorBytes["float16"]!, 50 * 32 * 2)
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

    /// The bucketed transports on one process: the buffer in buckets of the cap, summed and checked.
    func testBenchAllReduceThroughBuckets() throws {
        let r = try CommandRunner.run(["bench", "allreduce", "--mb", "0.4", "--repeats", "2", "--warmup", "0",
                                       "--transport", "mpi", "--bucket-mb", "0.1", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["buckets"] as? Int, 4, "0.4 MB in buckets of 0.1 MiB")
        XCTAssertEqual(object["transport"] as? String, "none", "one rank: nothing crosses")
        XCTAssertEqual(object["bytes_sent_per_node_model"] as? Int, 0)
    }

    func testBadOptionsAreErrors() throws {
        for args in [["--mb", "0"], ["--mb", "5000"], ["--repeats", "0"], ["--warmup", "-1"], ["--transport", "nccl"]] {
            let r = try CommandRunner.run(["bench", "allreduce"] + args)
            XCTAssertNotEqual(r.status, 0, args.joined(separator: " "))
            XCTAssertTrue(r.stderr.contains("--"), r.stderr)
        }
    }
}

final class BenchScaleCommandTests: XCTestCase {
    static let measurement = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../docs/scaling/bench-train-full-1x2.json").standardizedFileURL.path

    /// The committed measurement of docs/scaling.md gives that document's prediction.
    func testPredictsFromAMeasurement() throws {
        let r = try CommandRunner.run(["bench", "scale", Self.measurement, "--machines", "1,2", "--gbit", "1"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("full: one rank alone 909 ms/step"), r.stdout)
        XCTAssertTrue(r.stdout.contains("| 1 | 1.00 Gbit/s | 909 ms, 1.00 | 1165 ms, 0.78 |"), r.stdout)
        XCTAssertTrue(r.stdout.contains("Entity-memory refresh"), r.stdout)
    }

    static func scaling(_ name: String) -> String {
        URL(fileURLWithPath: measurement).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// `--check` gives docs/scaling.md's check rows from the committed runs; a run with no
    /// measurement of as many ranks to predict it from, and a malformed --check, are named.
    func testChecksASimulatedClusterRun() throws {
        let r = try CommandRunner.run(["bench", "scale", Self.measurement, Self.scaling("bench-train-full-1x3.json"),
                                       "--network-core-ms-per-mb", "1.29", "--cores", "2",
                                       "--check", "0.967:" + Self.scaling("bench-train-full-2x1-1gbit.json"),
                                       "--check", "0.961:" + Self.scaling("bench-train-full-3x1-1gbit.json")])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("| full | 2 | 0.967 Gbit/s | 1335 ms | 1336 ms | -0.1 % | 123 ms | 281 ms |"), r.stdout)
        XCTAssertTrue(r.stdout.contains("| full | 3 | 0.961 Gbit/s | 2058 ms | 2227 ms | -7.6 % | 245 ms | 237 ms |"), r.stdout)
        let missing = try CommandRunner.run(["bench", "scale", Self.measurement,
                                             "--check", "1:" + Self.scaling("bench-train-full-3x1-1gbit.json")])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("bench-train-full-3x1-1gbit.json ran full on 3 hosts"), missing.stderr)
        // a run through shared memory is not one rank per simulated host
        let shared = try CommandRunner.run(["bench", "scale", Self.measurement, "--check", "1:" + Self.measurement])
        XCTAssertNotEqual(shared.status, 0)
        XCTAssertTrue(shared.stderr.contains("one rank per simulated host"), shared.stderr)
        let malformed = try CommandRunner.run(["bench", "scale", Self.measurement, "--check", "fast.json"])
        XCTAssertNotEqual(malformed.status, 0)
        XCTAssertTrue(malformed.stderr.contains("--check fast.json: expected GBIT:FILE"), malformed.stderr)
    }

    /// A one-rank measurement has no timed buckets; a file that is not one is named.
    func testWhatItCannotUseIsNamed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-scale-\(UUID())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // the committed measurement as one rank would have printed it: no buckets
        var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.measurement))) as? [String: Any])
        object["ranks"] = 1
        object["buckets"] = [Any]()
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: dir + "/one.json"))
        let single = try CommandRunner.run(["bench", "scale", dir + "/one.json"])
        XCTAssertNotEqual(single.status, 0)
        XCTAssertTrue(single.stderr.contains("2 or more ranks"), single.stderr)
        try "hello\n".write(toFile: dir + "/not.json", atomically: true, encoding: .utf8)
        let r = try CommandRunner.run(["bench", "scale", dir + "/not.json"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("not.json: no JSON object"), r.stderr)
    }
}
