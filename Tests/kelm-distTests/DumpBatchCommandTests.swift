import Foundation
import KELMCheckpoint
import KELMHDF5
import XCTest

final class DumpBatchCommandTests: XCTestCase {
    var configPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../configs/tiny.yaml").standardized.path
    }

    /// CI's completeness check of a dump: every dataset of DESIGN §9 with consistent sizes, a
    /// gradient of its parameter's shape for every parameter, finite losses.
    func testDumpIsComplete() throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-dump-\(UUID()).h5").path
        defer { try? FileManager.default.removeItem(atPath: out) }
        let r = try CommandRunner.run(["debug", "dump-batch", "--config", configPath, "--out", out,
                                       "--relations", "4", "--entities", "50", "--batch", "2",
                                       // with 2 fusion layers the first MInt reaches the losses (the last only feeds [CLS] and the interaction node)
                                       "--set", "model.fusion_layers=2"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try BatchDump.verify(out), [])
        let file = try HDF5File.open(out)
        let loss = try file.doubleAttribute("loss"), lp = try file.doubleAttribute("lp_loss")
        XCTAssertTrue(loss.isFinite && loss > 0)
        XCTAssertGreaterThan(lp, 0)
        XCTAssertGreaterThan(try file.intAttribute("lp_count"), 0)
        for p in ["/grads/gnn/layers/0/key/weight", "/grads/mint/0/weight", "/grads/linkpred/relation/weight",
                  "/grads/lm/encoder/layer/0/intermediate/dense/weight"] {
            let g = try file.withDataset(p) { try $0.readFloats() }
            XCTAssertTrue(g.contains { $0 != 0 }, "\(p) is all zero")
        }
        try file.close()
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".tmp"))
    }

    /// The completeness check notices what is missing or inconsistent.
    func testVerifyFindsProblems() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-bad-dump-\(UUID()).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let f = try HDF5File.create(path)
        try f.setAttribute("format", "kelm-dist-batch")
        try f.setAttribute("format_version", Int64(1))
        try f.setAttribute("B", Int64(2))
        try f.setAttribute("T", Int64(4))
        try f.writeDataset("/tokens/input_ids", [Int32](repeating: 0, count: 8), shape: [2, 4])
        try f.writeDataset("/tokens/attention_mask", [Int32](repeating: 0, count: 6), shape: [2, 3])
        try f.writeDataset("/params/a/weight", [Float](repeating: 0, count: 6), shape: [2, 3])
        try f.writeDataset("/grads/a/weight", [Float](repeating: 0, count: 6), shape: [3, 2])
        try f.close()
        let problems = try BatchDump.verify(path)
        XCTAssertTrue(problems.contains { $0.contains("root attribute loss is missing") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("/tokens/attention_mask has shape [2, 3]") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("/tokens/mlm_labels is missing") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("/grads/a/weight has shape [3, 2]") }, "\(problems)")
    }
}

/// Prepare the documented TSV example, then dump a batch of it and train on it.
final class PreparedDataCommandTests: XCTestCase {
    func testDumpAndTrainOnThePreparedExample() throws {
        let ex = PreparedExample(name: "prepared")
        defer { ex.remove() }
        let tmp = ex.directory
        let prep = try ex.prepare(splits: ["--valid-segments", "0", "--test-segments", "0"])
        XCTAssertEqual(prep.status, 0, prep.stderr + prep.stdout)
        let config = PreparedExample.tinyConfig
        let common = ex.trainOverrides
        let dump = try CommandRunner.run(["debug", "dump-batch", "--config", config, "--out", tmp + "/dump.h5"] + common)
        XCTAssertEqual(dump.status, 0, dump.stderr)
        XCTAssertEqual(try BatchDump.verify(tmp + "/dump.h5"), [])
        // the example's corpus.jsonl gives sources (Q5, Q2): they are type-1 nodes with x⁰ = 0
        let file = try HDF5File.open(tmp + "/dump.h5")
        let source = try file.withDataset("/graph/node_source_entity") { try $0.readInt32s() }
        let entity = try file.withDataset("/graph/node_entity") { try $0.readInt32s() }
        let type = try file.withDataset("/graph/node_type") { try $0.readInt32s() }
        XCTAssertEqual(try file.intAttribute("format_version"), 2)
        try file.close()
        let sources = source.indices.filter { source[$0] >= 0 }
        XCTAssertFalse(sources.isEmpty, "a source node in the dumped batch")
        for v in sources { XCTAssertEqual([entity[v], type[v]], [-1, 1]) }
        let train = try CommandRunner.run(["train", "--config", config, "--set", "train.steps=2", "--out", tmp + "/run"] + common)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/run/checkpoints/ckpt-00000002.h5"))
        // a vocabulary that does not match the model's is named
        let wrong = try CommandRunner.run(["train", "--config", config, "--set", "data.path=\(tmp)/data", "--set", "train.steps=1",
                                           "--out", tmp + "/run2"])
        XCTAssertNotEqual(wrong.status, 0)
        XCTAssertTrue(wrong.stderr.contains("model.vocab_size"), wrong.stderr)
    }
}
