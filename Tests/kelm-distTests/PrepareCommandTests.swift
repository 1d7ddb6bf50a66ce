import Foundation
import XCTest

/// `kelm-dist prepare` as a user runs it.
final class PrepareCommandTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let example = root.appendingPathComponent("docs/examples/tsv")
    static let vocabulary = root.appendingPathComponent("Tests/KELMDataTests/Fixtures/vocab.txt").path
    static let wordNetMini = root.appendingPathComponent("Tests/KELMDataTests/Fixtures/wordnet-mini").path

    func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-prepare-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock {
            do { try FileManager.default.removeItem(at: url) } catch { XCTFail("cannot remove \(url.path): \(error)") }
        }
        return url
    }

    func tsvArguments(out: String, triples: String? = nil) -> [String] {
        ["prepare", "tsv",
         "--entities", Self.example.appendingPathComponent("entities.tsv").path,
         "--relations", Self.example.appendingPathComponent("relations.tsv").path,
         "--triples", triples ?? Self.example.appendingPathComponent("triples.tsv").path,
         "--corpus", Self.example.appendingPathComponent("corpus.txt").path,
         "--vocab", Self.vocabulary, "--out", out]
    }

    func testPrepareTSVPrintsWhatItBuilt() throws {
        let out = try scratch().appendingPathComponent("data").path
        let result = try CommandRunner.run(tsvArguments(out: out))
        XCTAssertEqual(result.status, 0, result.stderr)
        let fields = result.fields
        XCTAssertEqual(fields["entities"], "8")
        XCTAssertEqual(fields["relations"], "5")
        XCTAssertEqual(fields["triples"], "train 10, valid 0, test 0")
        // the six lines fill one segment
        XCTAssertEqual(fields["segments"], "train 1, valid 0, test 0 (--pack texts)")
        XCTAssertEqual(fields["tokens per segment"], "mean 68.0 of T 128 (53.1% real, the rest padding)")
        XCTAssertEqual(fields["texts"], "6 (61 word pieces; 0 longer than T − 2 cut into 0 windows, 0 mentions dropped at window boundaries)")
        XCTAssertEqual(fields["linked mentions per segment"], "15.00 (100.0% of segments have one)")
        XCTAssertNotNil(fields["subgraph nodes (J 64, interaction node included)"])
        XCTAssertNotNil(Double(fields["seconds"] ?? ""))
        XCTAssertTrue(FileManager.default.fileExists(atPath: out + "/dataset.h5"))
        // one text per segment
        let none = try scratch().appendingPathComponent("data").path
        let one = try CommandRunner.run(tsvArguments(out: none) + ["--pack", "none"])
        XCTAssertEqual(one.status, 0, one.stderr)
        XCTAssertEqual(one.fields["segments"], "train 6, valid 0, test 0 (--pack none)")
        XCTAssertEqual(one.fields["linked mentions per segment"], "2.50 (100.0% of segments have one)")
        let bad = try CommandRunner.run(tsvArguments(out: none + "-bad") + ["--pack", "sentences"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("--pack"), bad.stderr)
        // The loader benchmark runs on them.
        for (data, batch) in [(out, 1), (none, 2)] {
            let bench = try CommandRunner.run(["bench", "loader", "--data", data, "--batch", "\(batch)", "--batches", "5", "--warmup", "1", "--json"])
            XCTAssertEqual(bench.status, 0, bench.stderr)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bench.stdout.utf8)) as? [String: Double])
            XCTAssertGreaterThan(object["batches_per_s"] ?? 0, 0)
            XCTAssertEqual(object["B"], Double(batch))
            let perSegment = try XCTUnwrap(object["real_tokens_per_segment"])
            if data == out { XCTAssertEqual(perSegment, 68, accuracy: 1e-9, "the one segment, every batch") }
            XCTAssertEqual(try XCTUnwrap(object["real_token_fraction"]), perSegment / 128, accuracy: 1e-9)
        }
    }

    func testBadInputExitsNonZeroNamingFileAndLine() throws {
        let directory = try scratch()
        let triples = directory.appendingPathComponent("triples.tsv").path
        try "Q1\tP1\tQ3\nQ1\tP1\tQ404\n".write(toFile: triples, atomically: true, encoding: .utf8)
        let out = directory.appendingPathComponent("data").path
        let result = try CommandRunner.run(tsvArguments(out: out, triples: triples))
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("\(triples):2: tail: expected an entity id of the entities file, found \"Q404\""), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out), "no partial output")
    }

    func testPrepareWordNet() throws {
        let out = try scratch().appendingPathComponent("wn").path
        let result = try CommandRunner.run(["prepare", "wordnet", "--source", Self.wordNetMini, "--vocab", Self.vocabulary,
                                            "--out", out, "--max-tokens", "64"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(result.fields["entities"], "17")
        XCTAssertEqual(result.fields["relations"], "18")
        let missing = try CommandRunner.run(["prepare", "wordnet", "--source", try scratch().path, "--vocab", Self.vocabulary,
                                             "--out", out + "2"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("data.noun: WordNet database file not found"), missing.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out + "2"))
    }
}
