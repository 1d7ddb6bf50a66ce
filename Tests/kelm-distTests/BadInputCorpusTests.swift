import Foundation
import KELMNumerics
import KELMCheckpoint
import KELMHDF5
import XCTest

/// The bad-input corpus of issue 11 at the command line: each class ends the command with a
/// non-zero exit and one `Error:` line naming the file and the field or item, within a timeout
/// (no hang). The classes covered elsewhere (docs/reliability.md lists them all):
/// - damaged checkpoints (truncated, flipped bytes, wrong format or version, missing or mis-shaped
///   tensors): `CheckpointCommandTests.testInspectRejectsDamagedFiles`,
///   `testResumeRejectsDamagedFiles`, and `KELMCheckpointTests.CheckpointLoadingTests`;
/// - bad TSV/JSONL/WordNet inputs to `prepare`: `KELMDataTests.BadInputTests`,
///   `PrepareCommandTests.testBadInputExitsNonZeroNamingFileAndLine`;
/// - every configuration error class at library level: `KELMTrainingTests.ConfigurationTests`;
/// - ranks with different configurations, fewer segments than ranks, disk full, a read-only
///   checkpoint directory (need mpirun or mounts): Tests/reliability/run-reliability-tests.sh.
final class BadInputCorpusTests: XCTestCase {
    static let limit = 120
    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-bad-input-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

    func write(_ name: String, _ text: String) throws -> String {
        let p = path(name)
        try text.write(toFile: p, atomically: false, encoding: .utf8)
        return p
    }

    /// Runs kelm-dist under a timeout and checks: exit 1, one `Error:` line holding every
    /// `expected` text, no crash report.
    @discardableResult
    func assertClearError(_ arguments: [String], _ expected: [String], _ label: String,
                          file: StaticString = #filePath, line: UInt = #line) throws -> CommandRunner.Result {
        let r = try CommandRunner.run(arguments, timeout: Self.limit)
        XCTAssertNotEqual(r.status, CommandRunner.timedOutStatus, "\(label): timed out (a hang)", file: file, line: line)
        XCTAssertEqual(r.status, 1, "\(label): \(r.stderr)", file: file, line: line)
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
        XCTAssertEqual(errors.count, 1, "\(label): \(r.stderr)", file: file, line: line)
        for text in expected {
            XCTAssertTrue(errors.first?.contains(text) ?? false, "\(label): expected '\(text)' in: \(r.stderr)", file: file, line: line)
        }
        XCTAssertFalse(r.stderr.contains("Fatal error"), "\(label): \(r.stderr)", file: file, line: line)
        return r
    }

    func train(_ extra: [String]) -> [String] {
        ["train", "--out", path("run-\(UUID())")] + extra
    }

    // MARK: configuration

    /// Every class of configuration error, through `kelm-dist train`: each names the file and
    /// line (or the --set), and the key.
    func testConfigurationErrors() throws {
        let cases: [(String, String, [String])] = [
            ("unknown key", "model:\n  hidden_size: 32\n  hiden: 3\n", [":3:3: unknown config key 'model.hiden'"]),
            ("unknown section", "modle:\n  hidden_size: 32\n", [":1:1: unknown config", "modle"]),
            ("ill-typed value", "train:\n  steps: many\n", [":2:10: config key 'train.steps': expected an integer, found \"many\""]),
            ("out of range", "train:\n  steps: -3\n", [":2:10: config key 'train.steps': must be >= 1, found -3"]),
            ("bad enum", "train:\n  param_policy: everything\n", [":2:17: config key 'train.param_policy'", "everything"]),
            ("YAML syntax", "train:\n  steps: [1\n", [":3:1: YAML syntax error"]),
            ("duplicate key", "train:\n  steps: 2\n  steps: 3\n", [":2:3: YAML syntax error: duplicate key 'steps'"]),
            ("not a mapping", "- train\n- model\n", [".yaml", "mapping"]),
        ]
        for (label, text, expected) in cases {
            let config = try write(label.replacingOccurrences(of: " ", with: "-") + ".yaml", text)
            try assertClearError(train(["--config", config, "--set", "data.path=synthetic"]), [config] + expected, label)
        }
        try assertClearError(train(["--config", path("none.yaml")]), [path("none.yaml"), "cannot read config file"], "missing file")
        try assertClearError(train(["--set", "train.steps"]), ["malformed --set override 'train.steps': expected section.key=value"], "malformed --set")
        try assertClearError(train(["--set", "train.micro_batch=0"]), ["--set train.micro_batch=0: config key 'train.micro_batch': must be >= 1, found 0"],
                             "--set out of range")
        try assertClearError(train(["--set", "train.stepz=3"]), ["--set train.stepz=3: unknown config key 'train.stepz' (did you mean 'train.steps'?)"],
                             "--set unknown key")
    }

    // MARK: datasets

    func testForeignTruncatedAndDamagedDatasetFiles() throws {
        let example = PreparedExample(name: "bad-dataset")
        defer { example.remove() }
        XCTAssertEqual(try example.prepare(splits: []).status, 0)
        let dataset = example.dataPath + "/dataset.h5"
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: dataset)[.size] as? NSNumber).intValue

        let truncated = path("truncated.h5")
        try FileManager.default.copyItem(atPath: dataset, toPath: truncated)
        XCTAssertEqual(truncate(truncated, off_t(size / 3)), 0)
        let text = try write("text.h5", "not HDF5\n")
        let checkpointRun = path("checkpoint-run")
        XCTAssertEqual(try CommandRunner.run(["train", "--config", PreparedExample.tinyConfig, "--set", "data.path=synthetic",
                                              "--set", "train.steps=1", "--out", checkpointRun], timeout: Self.limit).status, 0)
        let checkpoint = checkpointRun + "/checkpoints/ckpt-00000001.h5"
        // one token changed: the checksum catches it
        let damaged = path("damaged.h5")
        try FileManager.default.copyItem(atPath: dataset, toPath: damaged)
        var h5 = try HDF5File.open(damaged, mode: .readWrite)
        try h5.withDataset("/descriptions/tokens") { ds in var v = try ds.readInt32s(); v[v.count / 2] = -7; try ds.write(v) }
        try h5.close()
        // the same change with its checksum recomputed (a writer bug, not a disk fault): the
        // record checks catch it
        let resealed = path("resealed.h5")
        try FileManager.default.copyItem(atPath: dataset, toPath: resealed)
        h5 = try HDF5File.open(resealed, mode: .readWrite)
        try h5.withDataset("/descriptions/tokens") { ds in
            var v = try ds.readInt32s()
            v[v.count / 2] = -7
            try ds.write(v)
            try ds.setAttribute("crc32", Int64(v.withUnsafeBytes { CRC32.checksum($0) }))
        }
        try h5.close()

        let cases: [(String, String, [String])] = [
            ("truncated", truncated, ["not a readable HDF5 file (truncated or corrupt?)", "truncated file"]),
            ("not HDF5", text, ["not a readable HDF5 file (truncated or corrupt?)", "file signature not found"]),
            ("a checkpoint", checkpoint, ["format: expected a \"kelm-dist-dataset\" file, found \"kelm-dist-checkpoint\""]),
            ("damaged inside", damaged, ["/descriptions/tokens: checksum mismatch (stored crc32 ", "the data is damaged; prepare the dataset again"]),
            ("wrong inside, checksum matching", resealed, ["/descriptions/tokens: token", "has id -7; expected ids below 30522"]),
            ("missing", path("none"), ["dataset not found"]),
        ]
        for (label, file, expected) in cases {
            try assertClearError(train(["--config", PreparedExample.tinyConfig] + example.trainOverrides + ["--set", "data.path=\(file)"]),
                                 [file] + expected, label)
        }
    }

    func testDatasetOfAnotherVocabulary() throws {
        let example = PreparedExample(name: "other-vocab")
        defer { example.remove() }
        XCTAssertEqual(try example.prepare(splits: []).status, 0)
        // configs/tiny.yaml has vocab_size 512; the example was prepared with bert-base-uncased's 30522
        try assertClearError(train(["--config", PreparedExample.tinyConfig, "--set", "data.path=\(example.dataPath)"]),
                             ["data.path \(example.dataPath): the dataset's vocabulary has 30522 tokens, but model.vocab_size is 512"], "vocabulary")
    }

    /// Another vocabulary of the same size (two tokens swapped): every token id changes meaning,
    /// which the counts cannot see. `--resume`, `eval` and `--init-from` compare the digests.
    func testAnotherVocabularyOfTheSameSize() throws {
        let mine = PreparedExample(name: "vocab-mine"), other = PreparedExample(name: "vocab-other")
        defer { mine.remove(); other.remove() }
        var tokens = try String(contentsOfFile: PreparedExample.vocabulary, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        tokens.swapAt(2000, 2001)
        let swapped = try write("vocab-swapped.txt", tokens.joined(separator: "\n"))
        XCTAssertEqual(try mine.prepare(splits: ["--valid-segments", "0.25", "--valid-triples", "0.2"]).status, 0)
        XCTAssertEqual(try other.prepare(splits: ["--valid-segments", "0.25", "--valid-triples", "0.2"], vocabulary: swapped).status, 0)
        let run = path("run")
        let trained = try CommandRunner.run(["train", "--config", PreparedExample.tinyConfig] + mine.trainOverrides
                                            + ["--set", "train.steps=1", "--out", run], timeout: Self.limit)
        XCTAssertEqual(trained.status, 0, trained.stderr)
        let checkpoint = run + "/checkpoints/ckpt-00000001.h5"
        try assertClearError(train(["--config", PreparedExample.tinyConfig] + other.trainOverrides + ["--set", "train.steps=2", "--resume", run]),
                             ["checkpoint \(checkpoint): vocabulary_digest: is ", "but data.path's vocabulary has the digest", "another vocabulary, maybe of the same size"],
                             "resume")
        try assertClearError(["eval", run, "--data", other.dataPath],
                             ["the dataset's vocabulary (digest ", "is not the one the checkpoint trained on"], "eval")
        let folder = path("hf")
        let exported = try CommandRunner.run(["export", run, "--format", "hf", "--vocab", PreparedExample.vocabulary, "--out", folder], timeout: Self.limit)
        XCTAssertEqual(exported.status, 0, exported.stderr)
        try assertClearError(train(["--config", PreparedExample.tinyConfig] + other.trainOverrides + ["--set", "train.steps=1", "--init-from", folder]),
                             ["\(folder)/vocab.txt: the pretrained LM's vocabulary (digest ", "is not the one the dataset was prepared with"], "init-from")
        // the same vocabulary passes all three
        let resumed = try CommandRunner.run(["train", "--config", PreparedExample.tinyConfig] + mine.trainOverrides
                                            + ["--set", "train.steps=2", "--resume", run, "--out", run], timeout: Self.limit)
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertEqual(try CommandRunner.run(["eval", run, "--data", mine.dataPath, "--max-entities", "10"], timeout: Self.limit).status, 0)
    }

    // MARK: checkpoints

    /// Files that are not checkpoints at all (the corrupt and truncated ones: CheckpointCommandTests).
    func testForeignFilesAsCheckpoints() throws {
        let example = PreparedExample(name: "foreign-ckpt")
        defer { example.remove() }
        XCTAssertEqual(try example.prepare(splits: []).status, 0)
        let dataset = example.dataPath + "/dataset.h5"
        let text = try write("text.h5", "not HDF5\n")
        let empty = try write("empty.h5", "")
        let cases: [(String, String, [String])] = [

            ("not HDF5", text, ["file: is not a readable HDF5 file (truncated or corrupt?)"]),
            ("empty", empty, ["file: is empty (0 bytes)"]),
        ]
        for (label, file, expected) in cases {
            try assertClearError(["inspect", file], ["\(file): "] + expected, "inspect " + label)
            try assertClearError(train(["--config", PreparedExample.tinyConfig, "--set", "data.path=synthetic", "--resume", file]),
                                 ["checkpoint \(file): "] + expected, "resume " + label)
        }
        // a dataset is no checkpoint: resume refuses it; inspect recognises and verifies it
        try assertClearError(train(["--config", PreparedExample.tinyConfig, "--set", "data.path=synthetic", "--resume", dataset]),
                             ["checkpoint \(dataset): ", "attribute format: is \"kelm-dist-dataset\", expected \"kelm-dist-checkpoint\""],
                             "resume a dataset")
        let inspected = try CommandRunner.run(["inspect", dataset], timeout: Self.limit)
        XCTAssertEqual(inspected.status, 0, inspected.stderr)
        XCTAssertTrue(inspected.stdout.contains("datasets verified (crc32)"), inspected.stdout)
    }

    /// NaN in the weights a run starts from (here a checkpoint whose checksum matches the NaN;
    /// `--init-from`: HuggingFaceImportTests.testNonFiniteWeightIsNamed).
    func testNonFiniteInitialWeights() throws {
        let run = path("run")
        XCTAssertEqual(try CommandRunner.run(["train", "--config", PreparedExample.tinyConfig, "--set", "data.path=synthetic",
                                              "--set", "train.steps=1", "--out", run], timeout: Self.limit).status, 0)
        let checkpoint = run + "/checkpoints/ckpt-00000001.h5"
        let item = "/params/gnn/final/h0/weight"
        let h5 = try HDF5File.open(checkpoint, mode: .readWrite)
        try h5.withDataset(item) { ds in
            var v = try ds.readFloats()
            v[5] = .nan
            try ds.write(v)
            try ds.setAttribute(StoredTensor.checksumAttribute, Int64(CRC32.checksum(v)))
        }
        try h5.close()
        try assertClearError(train(["--config", PreparedExample.tinyConfig, "--set", "data.path=synthetic", "--set", "train.steps=2",
                                    "--resume", run]),
                             ["checkpoint \(checkpoint): \(item): holds nan at element 5; stored weights, moments and memory must be finite"], "NaN")
    }
}
