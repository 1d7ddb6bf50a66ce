import Foundation

/// The documented TSV example (docs/examples/tsv) prepared into a temporary directory, for the
/// command tests that need a real dataset.
struct PreparedExample {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    static var tinyConfig: String { root.appendingPathComponent("configs/tiny.yaml").path }

    /// A fresh temporary directory; the dataset goes to `directory/data`.
    let directory: String
    var dataPath: String { directory + "/data" }

    init(name: String) {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-\(name)-\(UUID())").path
    }

    /// Runs `prepare tsv` on the example (corpus `corpus.jsonl` or `corpus.txt`) with T 32,
    /// 16 description tokens and the given split flags; returns the command's result.
    static var vocabulary: String { root.appendingPathComponent("Tests/KELMDataTests/Fixtures/vocab.txt").path }

    func prepare(corpus: String = "corpus.jsonl", splits: [String], vocabulary vocab: String = PreparedExample.vocabulary) throws -> CommandRunner.Result {
        let example = Self.root.appendingPathComponent("docs/examples/tsv").path
        return try CommandRunner.run(["prepare", "tsv", "--entities", example + "/entities.tsv", "--relations", example + "/relations.tsv",
                                      "--triples", example + "/triples.tsv", "--corpus", example + "/" + corpus,
                                      "--vocab", vocab, "--out", dataPath, "--max-tokens", "32", "--description-tokens", "16"] + splits)
    }

    /// `--set` overrides that train the tiny model on this dataset.
    var trainOverrides: [String] {
        ["--set", "data.path=\(dataPath)", "--set", "model.vocab_size=30522", "--set", "train.micro_batch=1"]
    }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}
