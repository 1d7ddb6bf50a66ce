import Foundation
import XCTest
import KELMBatches
import KELMConfig
import KELMData
import KELMNumerics
import KELMTraining

/// A small knowledge base and corpus written as the TSV inputs of `prepare`, prepared with
/// held-out segments and triples, for the evaluation tests: 30 entities named by common words,
/// 4 relations, about 90 triples, 80 JSONL segments with their mentions.
public enum EvaluationFixture {
    public static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized
    public static var vocabulary: String { root.appendingPathComponent("Tests/KELMDataTests/Fixtures/vocab.txt").path }

    public static let words = ["dog", "cat", "bird", "fish", "horse", "cow", "sheep", "goat", "lion", "tiger", "bear", "wolf",
                        "fox", "deer", "mouse", "rabbit", "snake", "frog", "duck", "eagle", "owl", "bee", "ant", "whale",
                        "shark", "tree", "flower", "river", "mountain", "city"]

    /// Prepares the dataset into `directory` (created) and returns its path.
    public static func prepare(into directory: String, maxTokens: Int = 24) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var rng = RandomStream(RandomKey(seed: 77, purpose: .test))
        let n = words.count
        var entities = "", triples = "", corpus = ""
        for (i, w) in words.enumerated() {
            let a = words[(i + 3) % n], b = words[(i + 7) % n]
            entities += "E\(i)\t\(w)\tThe \(w) is a thing that likes the \(a) and lives near the \(b).\t\t\n"
        }
        let relations = "R0\tlikes\nR1\tlives near\nR2\teats\nR3\tpart of\n"
        var seen = Set<String>()
        while seen.count < 90 {
            let h = rng.nextInt(below: n), t = rng.nextInt(below: n), r = rng.nextInt(below: 4)
            guard h != t else { continue }
            let line = "E\(h)\tR\(r)\tE\(t)\n"
            if seen.insert(line).inserted { triples += line }
        }
        for _ in 0..<80 {
            let picks = (0..<3).map { _ in rng.nextInt(below: n) }
            var text = "", mentions: [String] = []
            for (k, p) in picks.enumerated() {
                text += k == 0 ? "the " : (k == 1 ? " saw the " : " near the ")
                let start = text.count
                text += words[p]
                mentions.append("{\"start\": \(start), \"end\": \(text.count), \"entity\": \"E\(p)\"}")
            }
            text += " in the morning."
            corpus += "{\"text\": \"\(text)\", \"mentions\": [\(mentions.joined(separator: ", "))]}\n"
        }
        let files = TSVInputFiles(entities: directory + "/entities.tsv", relations: directory + "/relations.tsv",
                                  triples: directory + "/triples.tsv", corpus: directory + "/corpus.jsonl")
        try entities.write(toFile: files.entities, atomically: true, encoding: .utf8)
        try relations.write(toFile: files.relations, atomically: true, encoding: .utf8)
        try triples.write(toFile: files.triples, atomically: true, encoding: .utf8)
        try corpus.write(toFile: files.corpus, atomically: true, encoding: .utf8)
        var options = PrepareOptions()
        options.maxTokens = maxTokens
        options.descriptionTokens = 16
        options.splits.validSegments = 0.2
        options.splits.testSegments = 0.1
        options.splits.validTriples = 0.1
        options.splits.testTriples = 0.1
        _ = try DatasetPreparation.prepareTSV(files, vocabulary: vocabulary, options: options,
                                              outputDirectory: directory + "/data")
        return directory + "/data"
    }

    public static func config(microBatch: Int = 3, overrides extra: [String] = []) throws -> KELMConfig {
        try ConfigLoader.load(overrides: [
            "model.hidden_size=16", "model.num_layers=2", "model.num_heads=2", "model.ffn_size=24",
            "model.vocab_size=30522", "model.max_positions=32", "model.fusion_layers=1", "model.gnn_hidden=8",
            "model.gnn_heads=2", "model.max_tokens=24", "model.max_nodes=8", "model.dropout=0.1", "model.gnn_dropout=0.1",
            "memory.description_tokens=16", "train.micro_batch=\(microBatch)", "train.steps=2", "train.warmup_steps=1",
            "train.param_policy=full", "data.seed=5",
        ] + extra)
    }

    /// A fresh model (seeded parameters, a step-0 memory) on the prepared data, built on one process.
    public static func trainer(data path: String, microBatch: Int = 3) throws -> (Trainer, DatasetTrainingData) {
        var config = try config(microBatch: microBatch)
        config.data.path = path
        let data = try DatasetTrainingData(path: path, maxNodes: config.model.maxNodes, seed: UInt64(config.data.seed))
        return (try Trainer(config: config, data: data, collective: SingleProcess()), data)
    }

    public static func temporaryDirectory(_ label: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("kelm-\(label)-\(UUID())").path
    }

    /// For a test class's `setUp()`: the fixture prepared into a fresh temporary directory
    /// (remove it in `tearDown()`); a failure to prepare fails the test.
    public static func prepareForTestClass(_ label: String) -> (directory: String, dataPath: String) {
        let directory = temporaryDirectory(label)
        do {
            return (directory, try prepare(into: directory))
        } catch {
            XCTFail("preparing the evaluation fixture: \(error)")
            return (directory, "")
        }
    }
}
