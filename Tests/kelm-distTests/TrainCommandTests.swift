import Foundation
import KELMHDF5
import XCTest

final class TrainCommandTests: XCTestCase {
    var tinyConfig: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../configs/tiny.yaml").standardized.path
    }

    /// One process, no mpirun: progress, config.yaml, metrics.jsonl with the documented keys,
    /// and a checkpoint in the layout of DESIGN §7.
    func testTrainWritesTheRunDirectory() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-train-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try CommandRunner.run(["train", "--config", tinyConfig, "--set", "data.path=synthetic",
                                       "--set", "train.steps=3", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("step 3/3"), r.stderr)
        XCTAssertTrue(r.stderr.contains("tokens/s") && r.stderr.contains("ETA"))
        let checkpoint = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(checkpoint, out + "/checkpoints/ckpt-00000003.h5")
        XCTAssertEqual(try String(contentsOfFile: out + "/checkpoints/latest", encoding: .utf8), "ckpt-00000003.h5\n")
        XCTAssertTrue(try String(contentsOfFile: out + "/config.yaml", encoding: .utf8).contains("synthetic"))
        let lines = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        let first = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        for key in ["step", "loss", "mlm_loss", "lp_loss", "lr", "grad_norm", "tokens_per_s", "time_forward_ms",
                    "time_backward_ms", "time_comm_exposed_ms", "time_optimizer_ms", "bytes_allreduced", "bytes_dense_equivalent"] {
            XCTAssertNotNil(first[key], key)
        }
        let f = try HDF5File.open(checkpoint)
        XCTAssertEqual(try f.stringAttribute("format"), "kelm-dist-checkpoint")
        XCTAssertEqual(try f.intAttribute("step"), 3)
        XCTAssertEqual(try f.intAttribute("world_size"), 1)
        XCTAssertTrue(try f.stringAttribute("config").contains("\"micro_batch\":2"))
        XCTAssertEqual(try f.withDataset("/params/lm/embeddings/word_embeddings/weight") { try $0.shape() }, [512, 32])
        XCTAssertEqual(try f.withDataset("/params/linkpred/relation/weight") { try $0.shape() }, [8, 16])
        XCTAssertTrue(try f.exists("/optimizer/exp_avg/gnn/node_in/weight"))
        XCTAssertEqual(try f.withGroup("/optimizer") { try $0.intAttribute("step") }, 3)
        XCTAssertEqual(try f.withDataset("/memory/entity_context") { try $0.shape() }, [256, 32])
        try f.close()
    }

    func testMissingDataPathIsAClearError() throws {
        let r = try CommandRunner.run(["train", "--config", tinyConfig, "--set", "train.steps=1",
                                       "--out", FileManager.default.temporaryDirectory.appendingPathComponent("kelm-nodata-\(UUID())").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("data.path"), r.stderr)
    }
}
