import Foundation
import KELMCheckpoint
import KELMHDF5
import KELMNumerics
import XCTest

/// `kelm-dist inspect`, `export` and `train --resume` on a real tiny checkpoint and on damaged
/// copies of it (DESIGN §7).
final class CheckpointCommandTests: XCTestCase {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    static let tinyConfig = repository.appendingPathComponent("configs/tiny.yaml").path
    /// What `BertForMaskedLM` (transformers 5.x) has for configs/tiny.yaml (Tests/Fixtures/make_bert_mlm_keys.py).
    static let keyList = repository.appendingPathComponent("Tests/Fixtures/bert_mlm_keys_tiny.json")

    /// One 3-step run shared by the tests (written once, never modified).
    nonisolated(unsafe) static var shared: (run: String, checkpoint: String)?

    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-ckpt-cli-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    override class func tearDown() {
        if let shared { try? FileManager.default.removeItem(atPath: shared.run) }  // cleanup of a temporary folder
        shared = nil
    }

    func run() throws -> (run: String, checkpoint: String) {
        if let shared = Self.shared { return shared }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-ckpt-run-\(UUID())").path
        let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic",
                                       "--set", "train.steps=3", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let made = (out, out + "/checkpoints/ckpt-00000003.h5")
        Self.shared = made
        return made
    }

    // MARK: damaged copies

    func copy(_ name: String) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        try FileManager.default.copyItem(atPath: try run().checkpoint, toPath: path)
        return path
    }

    func edit(_ path: String, _ body: (HDF5File) throws -> Void) throws {
        let f = try HDF5File.open(path, mode: .readWrite)
        try body(f)
        try f.close()
    }

    /// Rewrites the stored configuration (and the header checksum, so that only the config differs).
    func editConfig(_ path: String, _ change: (String) -> String) throws {
        try edit(path) { f in
            let config = change(try f.stringAttribute("config"))
            try f.setAttribute("config", config)
            let crc = Checkpoint.headerChecksum(
                format: try f.stringAttribute("format"), formatVersion: try f.intAttribute("format_version"),
                step: try f.intAttribute("step"), epoch: try f.intAttribute("epoch"), samplesSeen: try f.intAttribute("samples_seen"),
                worldSize: try f.intAttribute("world_size"), config: config, kelmVersion: try f.stringAttribute("kelm_version"))
            try f.setAttribute(Checkpoint.headerChecksumAttribute, Int64(crc))
        }
    }

    /// (name, file, what stderr must say after "checkpoint <file>: ").
    func damagedFiles() throws -> [(String, String, [String])] {
        let truncated = try copy("truncated.h5")
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: truncated)[.size] as? NSNumber).intValue
        XCTAssertEqual(truncate(truncated, off_t(size / 2)), 0)

        let flipped = try copy("flipped.h5")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: flipped))
        for i in (bytes.count / 2)..<(bytes.count / 2 + 8) { bytes[i] ^= 0xFF }
        try bytes.write(to: URL(fileURLWithPath: flipped))

        let format = try copy("format.h5")
        try edit(format) { try $0.setAttribute("format", "kelm-dist-weights") }
        let version = try copy("version.h5")
        try edit(version) { try $0.setAttribute("format_version", Int64(Checkpoint.formatVersion + 1)) }
        let missing = try copy("missing.h5")
        try edit(missing) { try $0.unlink("/params/mlm/bias") }
        let architecture = try copy("architecture.h5")
        try editConfig(architecture) { $0.replacingOccurrences(of: "\"ffn_size\":64", with: "\"ffn_size\":128") }

        return [
            ("truncated", truncated, ["file: is not a readable HDF5 file (truncated or corrupt?)", "truncated file"]),
            ("flipped", flipped, ["the file is corrupt"]),
            ("format", format, ["attribute format: is \"kelm-dist-weights\", expected \"kelm-dist-checkpoint\""]),
            ("version", version, ["attribute format_version: is \(Checkpoint.formatVersion + 1), newer than this build reads"]),
            ("missing", missing, ["/params/mlm/bias: missing; the architecture in attribute config (hidden_size 32"]),
            ("architecture", architecture, ["/params/lm/encoder/layer/0/intermediate/dense/weight: has shape [64, 32], but the architecture in attribute config (",
                                            "ffn_size 128", ") gives [128, 32]"]),
        ]
    }

    // MARK: inspect

    func testInspectSummarisesTheCheckpoint() throws {
        let (runDirectory, checkpoint) = try run()
        let text = try CommandRunner.run(["inspect", runDirectory])
        XCTAssertEqual(text.status, 0, text.stderr)
        let fields = text.fields
        XCTAssertEqual(fields["checkpoint"], checkpoint)
        XCTAssertEqual(fields["step"], "3")
        XCTAssertEqual(fields["world size"], "1")
        XCTAssertEqual(fields["param policy"], "knowledge-paths")
        XCTAssertEqual(fields["format"], "kelm-dist-checkpoint version 1, written by kelm-dist \(Checkpoint.version)")
        XCTAssertEqual(fields["architecture"], "hidden 32, layers 2, heads 4, d_ff 64, vocab 512, K 1, d_g 16, J 16, T 32, R 8")
        XCTAssertTrue(text.stdout.contains("  layer 1: 16/64 neurons (0.250)"), text.stdout)

        let r = try CommandRunner.run(["inspect", checkpoint, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["format"] as? String, "kelm-dist-checkpoint")
        XCTAssertEqual(json["format_version"] as? Int, 1)
        XCTAssertEqual(json["step"] as? Int, 3)
        XCTAssertEqual(json["epoch"] as? Int, 0)
        XCTAssertEqual(json["samples_seen"] as? Int, 6)
        XCTAssertEqual(json["world_size"] as? Int, 1)
        XCTAssertEqual(json["routing_fraction"] as? Double, 0.25)
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: checkpoint)[.size] as? NSNumber).intValue
        XCTAssertEqual(json["file_bytes"] as? Int, size)
        let a = try XCTUnwrap(json["architecture"] as? [String: Int])
        XCTAssertEqual(a, ["hidden_size": 32, "num_layers": 2, "num_heads": 4, "ffn_size": 64, "vocab_size": 512, "fusion_layers": 1,
                           "gnn_hidden": 16, "max_nodes": 16, "max_tokens": 32, "relations": 8])
        let groups = try XCTUnwrap(json["groups"] as? [[String: Any]])
        XCTAssertEqual(groups.map { $0["name"] as? String }, ["lm.embeddings", "lm.attention", "lm.ffn", "gnn", "mint", "heads"])
        XCTAssertEqual(groups.map { $0["policy"] as? String }, ["frozen", "frozen", "routed", "dense", "dense", "dense"])
        XCTAssertEqual(groups.compactMap { $0["parameters"] as? Int }.reduce(0, +), json["parameters"] as? Int)
        XCTAssertEqual(groups[0]["parameters"] as? Int, 512 * 32 + 64 * 32 + 2 * 32 + 2 * 32)
        let memory = try XCTUnwrap(json["memory"] as? [String: Any])
        XCTAssertEqual(memory["entities"] as? Int, 256)
        XCTAssertEqual(memory["width"] as? Int, 32)
        XCTAssertEqual(memory["dtype"] as? String, "float32")
        XCTAssertEqual(memory["bytes"] as? Int, 256 * 32 * 4)
        XCTAssertEqual(fields["memory"], "256 × 32 entity context, float32, 32.0 KiB")
        XCTAssertNotNil(memory["next_refresh_step"] as? Int)
        let routing = try XCTUnwrap(json["routing"] as? [String: Any])
        let layers = try XCTUnwrap(routing["layers"] as? [[String: Any]])
        XCTAssertEqual(layers.count, 2)
        XCTAssertEqual(layers.map { $0["selected"] as? Int }, [16, 16])
        XCTAssertEqual(layers.map { $0["fraction"] as? Double }, [0.25, 0.25])
        let checksums = try XCTUnwrap(json["checksums"] as? [String: Any])
        XCTAssertGreaterThan(checksums["datasets"] as? Int ?? 0, 200)
        XCTAssertEqual(checksums["verified"] as? Int, checksums["datasets"] as? Int)
        XCTAssertEqual((checksums["non_finite"] as? [Any])?.count, 0)
        XCTAssertEqual(fields["non-finite values"], "none")
        let optimizer = try XCTUnwrap(json["optimizer"] as? [String: Any])
        XCTAssertEqual(optimizer["step"] as? Int, 3)
    }

    /// A checkpoint whose weights went NaN with their checksums intact (a diverged run, saved):
    /// inspect still summarises it, and names every such tensor with a warning.
    func testInspectNamesNonFiniteTensors() throws {
        let diverged = try copy("diverged.h5")
        let items = ["/params/gnn/final/h0/weight", "/optimizer/exp_avg_sq/mlm/bias"]
        try edit(diverged) { f in
            for (k, item) in items.enumerated() {
                try f.withDataset(item) { ds in
                    var v = try ds.readFloats()
                    v[3 + k] = k == 0 ? .nan : .infinity
                    v[7] = .nan
                    try ds.write(v)
                    try ds.setAttribute(StoredTensor.checksumAttribute, Int64(v.withUnsafeBytes { CRC32.checksum($0) }))
                }
            }
        }
        let text = try CommandRunner.run(["inspect", diverged])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertEqual(text.fields["non-finite values"],
                       "WARNING: /optimizer/exp_avg_sq/mlm/bias holds 2 NaN/infinity (first at element 4); /params/gnn/final/h0/weight holds 2 NaN/infinity (first at element 3)")
        let r = try CommandRunner.run(["inspect", diverged, "--json"])
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let found = try XCTUnwrap((json["checksums"] as? [String: Any])?["non_finite"] as? [[String: Any]])
        XCTAssertEqual(Set(found.compactMap { $0["dataset"] as? String }), Set(items))
    }

    func testInspectRejectsDamagedFiles() throws {
        for (name, file, expected) in try damagedFiles() {
            let r = try CommandRunner.run(["inspect", file])
            XCTAssertNotEqual(r.status, 0, name)
            XCTAssertTrue(r.stderr.contains("checkpoint \(file): "), "\(name): \(r.stderr)")
            for text in expected { XCTAssertTrue(r.stderr.contains(text), "\(name): expected '\(text)' in: \(r.stderr)") }
            XCTAssertFalse(r.stderr.contains("Fatal error"), r.stderr)
        }
        let missing = (directory as NSString).appendingPathComponent("none.h5")
        let r = try CommandRunner.run(["inspect", missing])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("checkpoint \(missing): file: does not exist"), r.stderr)
    }

    // MARK: train --resume

    func testResumeRejectsDamagedFiles() throws {
        for (name, file, expected) in try damagedFiles() {
            let out = (directory as NSString).appendingPathComponent("resume-\(name)")
            let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic",
                                           "--set", "train.steps=4", "--resume", file, "--out", out])
            XCTAssertNotEqual(r.status, 0, name)
            XCTAssertTrue(r.stderr.contains("checkpoint \(file): "), "\(name): \(r.stderr)")
            for text in expected { XCTAssertTrue(r.stderr.contains(text), "\(name): expected '\(text)' in: \(r.stderr)") }
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + "/checkpoints/ckpt-00000004.h5"), name)
        }
    }

    func testResumeTakesTheArchitectureFromTheCheckpoint() throws {
        let (runDirectory, _) = try run()
        let out = (directory as NSString).appendingPathComponent("resumed")
        let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=4",
                                       "--set", "model.ffn_size=128", "--resume", runDirectory, "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.contains("the checkpoint's architecture is used (DESIGN §10); the configuration's differs in model.ffn_size 64 (configuration: 128)"), r.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/checkpoints/ckpt-00000004.h5"))
    }

    /// `memory.dtype: float16` end to end: the checkpoint stores the memory as float16 (half the
    /// bytes), `inspect` says so, `export --with-memory` writes it exactly in either dtype, and a
    /// resume with `memory.dtype: float32` widens it, saying so.
    func testFloat16MemoryThroughTrainInspectExportAndResume() throws {
        let out = (directory as NSString).appendingPathComponent("half")
        let r = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic",
                                       "--set", "train.steps=3", "--set", "memory.dtype=float16", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        let checkpoint = out + "/checkpoints/ckpt-00000003.h5"
        let source = try HDF5File.open(checkpoint)
        XCTAssertEqual(try source.withDataset("/memory/entity_context") { try $0.elementKind() }, .float(bytes: 2))
        let memory = try source.withDataset("/memory/entity_context") { try $0.readFloats() }
        try source.close()
        XCTAssertEqual(memory.count, 256 * 32)
        XCTAssertTrue(memory.allSatisfy { Float(Float16($0)) == $0 }, "float16 values")

        let inspect = try CommandRunner.run(["inspect", out])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertEqual(inspect.fields["memory"], "256 × 32 entity context, float16, 16.0 KiB")

        for dtype in ["float32", "float16"] {
            let file = (directory as NSString).appendingPathComponent("half-weights-\(dtype).h5")
            let e = try CommandRunner.run(["export", checkpoint, "--out", file, "--dtype", dtype, "--with-memory"])
            XCTAssertEqual(e.status, 0, e.stderr)
            let f = try HDF5File.open(file)
            XCTAssertEqual(try f.withDataset("/memory/entity_context") { try $0.elementKind() }, .float(bytes: dtype == "float32" ? 4 : 2))
            XCTAssertEqual(try f.withDataset("/memory/entity_context") { try $0.readFloats() }, memory, "\(dtype): the rows, exactly")
            try f.close()
        }

        let resumed = (directory as NSString).appendingPathComponent("half-resumed")
        let s = try CommandRunner.run(["train", "--config", Self.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=4",
                                       "--set", "memory.dtype=float32", "--resume", out, "--out", resumed])
        XCTAssertEqual(s.status, 0, s.stderr)
        XCTAssertTrue(s.stderr.contains("the checkpoint's entity memory is float16 and memory.dtype is float32: its rows are widened to float32"), s.stderr)
        let next = try HDF5File.open(resumed + "/checkpoints/ckpt-00000004.h5")
        XCTAssertEqual(try next.withDataset("/memory/entity_context") { try $0.elementKind() }, .float(bytes: 4))
        try next.close()
    }

    // MARK: export

    func testExportWeightsFile() throws {
        let (runDirectory, checkpoint) = try run()
        let source = try HDF5File.open(checkpoint)
        defer { XCTAssertNoThrow(try source.close()) }
        let word = "/params/lm/embeddings/word_embeddings/weight"
        let expected = try source.withDataset(word) { try $0.readFloats() }
        let memory = try source.withDataset("/memory/entity_context") { try $0.readFloats() }
        for dtype in ["float32", "float16"] {
            let out = (directory as NSString).appendingPathComponent("weights-\(dtype).h5")
            let r = try CommandRunner.run(["export", runDirectory, "--out", out, "--dtype", dtype, "--with-memory"])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertTrue(r.stdout.hasPrefix("wrote \(out): "), r.stdout)
            let f = try HDF5File.open(out)
            XCTAssertEqual(try f.stringAttribute("format"), "kelm-dist-weights")
            XCTAssertEqual(try f.intAttribute("format_version"), 1)
            XCTAssertEqual(try f.intAttribute("step"), 3)
            XCTAssertEqual(try f.stringAttribute("config"), try source.stringAttribute("config"))
            XCTAssertFalse(try f.exists("/optimizer"))
            XCTAssertEqual(try f.withDataset(word) { try $0.elementKind() }, .float(bytes: dtype == "float32" ? 4 : 2))
            let values = try f.withDataset(word) { try $0.readFloats() }
            let stored = try f.withDataset("/memory/entity_context") { try $0.readFloats() }
            if dtype == "float32" {
                XCTAssertEqual(values, expected)
                XCTAssertEqual(stored, memory)
            } else {
                for (a, b) in zip(values, expected) { XCTAssertLessThanOrEqual(abs(a - b), abs(b) * 0x1p-11 + 0x1p-24) }
            }
            try f.close()
            XCTAssertFalse(FileManager.default.fileExists(atPath: out + ".tmp"))
        }
        let plain = (directory as NSString).appendingPathComponent("plain.h5")
        XCTAssertEqual(try CommandRunner.run(["export", checkpoint, "--out", plain]).status, 0)
        XCTAssertFalse(try HDF5File.open(plain).exists("/memory"))
    }

    func testExportHuggingFaceHasTheKeysOfBertForMaskedLM() throws {
        let (runDirectory, checkpoint) = try run()
        let out = (directory as NSString).appendingPathComponent("hf")
        // no vocabulary for a synthetic run with vocab_size 512
        let none = try CommandRunner.run(["export", runDirectory, "--format", "hf", "--out", out])
        XCTAssertNotEqual(none.status, 0)
        XCTAssertTrue(none.stderr.contains("needs a vocab.txt of 512 tokens: pass --vocab FILE"), none.stderr)
        let float16 = try CommandRunner.run(["export", runDirectory, "--format", "hf", "--out", out, "--dtype", "float16"])
        XCTAssertNotEqual(float16.status, 0)
        XCTAssertTrue(float16.stderr.contains("--format hf writes float32"), float16.stderr)

        let vocab = (directory as NSString).appendingPathComponent("vocab.txt")
        let tokens = ["[PAD]"] + (1..<100).map { "[unused\($0)]" } + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (104..<512).map { "w\($0)" }
        try (tokens.joined(separator: "\n") + "\n").write(toFile: vocab, atomically: true, encoding: .utf8)
        let r = try CommandRunner.run(["export", runDirectory, "--format", "hf", "--out", out, "--vocab", vocab, "--reference-batch"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try String(contentsOfFile: out + "/vocab.txt", encoding: .utf8), tokens.joined(separator: "\n") + "\n")
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/kelm_reference_batch.h5"))

        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.keyList)) as? [String: Any])
        var expected: [String: [Int]] = [:]
        for k in try XCTUnwrap(list["keys"] as? [[String: Any]]) { expected[try XCTUnwrap(k["name"] as? String)] = k["shape"] as? [Int] }
        let tied = try XCTUnwrap(list["tied"] as? [String: String])
        let weights = try SafetensorsFile(path: out + "/model.safetensors")
        XCTAssertEqual(Set(weights.names), Set(expected.keys),
                       "unexpected \(Set(weights.names).subtracting(expected.keys)), missing \(Set(expected.keys).subtracting(weights.names))")
        let source = try HDF5File.open(checkpoint)
        defer { XCTAssertNoThrow(try source.close()) }
        for name in weights.names {
            XCTAssertEqual(try weights.info(name).shape, expected[name], name)
            let hf = tied[name] ?? name
            guard case .parameter(let ours) = HuggingFaceBert.mapping(forHuggingFace: hf) else { return XCTFail(hf) }
            let stored = try source.withDataset("/params/" + ours.replacingOccurrences(of: ".", with: "/")) { try $0.readFloats() }
            XCTAssertEqual(try weights.readFloats(name), stored, "\(name) = \(ours)")
        }
        let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        let listed = try XCTUnwrap(list["config"] as? [String: Any])
        for key in ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                    "max_position_embeddings", "type_vocab_size", "pad_token_id"] {
            XCTAssertEqual(config[key] as? Int, listed[key] as? Int, key)
        }
        XCTAssertEqual(config["architectures"] as? [String], ["BertForMaskedLM"])
    }

    /// export --format hf, then `--init-from` that folder: lm.* and mlm.* come back identical.
    func testExportThenInitFromGivesTheSameLanguageModel() throws {
        let (_, checkpoint) = try run()
        let out = (directory as NSString).appendingPathComponent("hf")
        let vocab = (directory as NSString).appendingPathComponent("vocab.txt")
        try ((0..<512).map { "t\($0)" }.joined(separator: "\n") + "\n").write(toFile: vocab, atomically: true, encoding: .utf8)
        let e = try CommandRunner.run(["export", checkpoint, "--format", "hf", "--out", out, "--vocab", vocab])
        XCTAssertEqual(e.status, 0, e.stderr)
        let dump = (directory as NSString).appendingPathComponent("dump.h5")
        let r = try CommandRunner.run(["debug", "dump-batch", "--config", Self.tinyConfig, "--init-from", out, "--out", dump])
        XCTAssertEqual(r.status, 0, r.stderr)
        let a = try HDF5File.open(checkpoint), b = try HDF5File.open(dump)
        let names = try Checkpoint.storedParameters(in: a).map(\.name).filter { $0.hasPrefix("lm.") || $0.hasPrefix("mlm.") }
        XCTAssertEqual(names.count, 5 + 2 * 16 + 5)
        for name in names {
            let p = Checkpoint.datasetPath("params", name)
            XCTAssertEqual(try b.withDataset(p) { try $0.readFloats() }, try a.withDataset(p) { try $0.readFloats() }, name)
        }
        try a.close()
        try b.close()
    }
}

/// `export --format hf` of a run trained on a prepared dataset given as its directory (as
/// `train --set data.path=DIR` accepts) takes the vocabulary from `DIR/dataset.h5`.
final class ExportVocabularyFromDatasetTests: XCTestCase {
    func testVocabularyFromTheDatasetDirectory() throws {
        let ex = PreparedExample(name: "export-vocab")
        defer { ex.remove() }
        let prep = try ex.prepare(splits: [])
        XCTAssertEqual(prep.status, 0, prep.stderr + prep.stdout)
        let train = try CommandRunner.run(["train", "--config", PreparedExample.tinyConfig, "--set", "train.steps=1",
                                           "--out", ex.directory + "/run"] + ex.trainOverrides)
        XCTAssertEqual(train.status, 0, train.stderr)
        let out = ex.directory + "/hf"
        let r = try CommandRunner.run(["export", ex.directory + "/run", "--format", "hf", "--out", out])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue((r.stdout + r.stderr).contains("dataset.h5 /vocabulary/tokens"), r.stdout + r.stderr)
        let tokens = try String(contentsOfFile: out + "/vocab.txt", encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(tokens.count, 30522 + 1, "30522 lines and the final newline")
    }
}
