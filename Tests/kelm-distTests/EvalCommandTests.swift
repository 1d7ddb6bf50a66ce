import Foundation
import XCTest

/// `kelm-dist eval` on the documented TSV example: prepare (with held-out segments and triples)
/// → train 2 steps → evaluate the valid and test splits.
final class EvalCommandTests: XCTestCase {
    func testEvalAfterTrainingOnThePreparedExample() throws {
        let ex = PreparedExample(name: "eval")
        defer { ex.remove() }
        let tmp = ex.directory
        // one text per segment, so that each split gets two
        let prep = try ex.prepare(corpus: "corpus.txt", splits: ["--pack", "none", "--valid-segments", "0.34", "--test-segments", "0.34",
                                                                  "--valid-triples", "0.1", "--test-triples", "0.1"])
        XCTAssertEqual(prep.status, 0, prep.stderr + prep.stdout)
        XCTAssertTrue(prep.stdout.contains("segments: train 2, valid 2, test 2"), prep.stdout)
        let train = try CommandRunner.run(["train", "--config", PreparedExample.tinyConfig, "--set", "train.steps=2",
                                           "--out", tmp + "/run"] + ex.trainOverrides)
        XCTAssertEqual(train.status, 0, train.stderr)

        for split in ["valid", "test"] {
            // a run directory means its latest checkpoint; the data path comes from the checkpoint
            let r = try CommandRunner.run(["eval", tmp + "/run", "--split", split, "--json"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let lines = r.stdout.split(separator: "\n")
            XCTAssertEqual(lines.count, 1, r.stdout)
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], r.stdout)
            for key in ["mlm_loss", "mlm_accuracy", "mention_mlm_loss", "mrr", "hits@1", "hits@3", "hits@10"] {
                let value = try XCTUnwrap(object[key] as? Double, "\(split): \(key) in \(r.stdout)")
                XCTAssertTrue(value.isFinite, "\(split): \(key) = \(value)")
            }
            XCTAssertEqual(object["split"] as? String, split)
            XCTAssertEqual(object["step"] as? Int, 2)
            XCTAssertEqual(object["segments"] as? Int, 2)
            XCTAssertEqual(object["candidates"] as? Int, 8)
            XCTAssertGreaterThan(try XCTUnwrap(object["triples"] as? Int), 0)
            let mrr = try XCTUnwrap(object["mrr"] as? Double)
            XCTAssertTrue(mrr > 0 && mrr <= 1, "\(mrr)")
        }

        // the readable form, on the checkpoint file with the data given
        let text = try CommandRunner.run(["eval", tmp + "/run/checkpoints/ckpt-00000002.h5", "--data", tmp + "/data",
                                          "--max-entities", "4", "--batch", "2"])
        XCTAssertEqual(text.status, 0, text.stderr)
        let fields = text.fields
        XCTAssertEqual(fields["split"], "valid")
        XCTAssertNotNil(fields["mlm_loss"].flatMap { Double($0) }, text.stdout)
        XCTAssertNotNil(fields["hits@10"].flatMap { Double($0) }, text.stdout)
        XCTAssertTrue(fields["triples"]?.contains("candidate entities") ?? false, text.stdout)

        // every masked token's loss, as TSV: one line per masked token, their mean the mlm_loss
        let tsvPath = tmp + "/tokens.tsv"
        let withTokens = try CommandRunner.run(["eval", tmp + "/run", "--json", "--no-link-prediction", "--token-losses", tsvPath])
        XCTAssertEqual(withTokens.status, 0, withTokens.stderr)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(withTokens.stdout.utf8)) as? [String: Any])
        let rows = try String(contentsOfFile: tsvPath, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first, "segment\tposition\ttoken\tmention\tloss")
        let losses = rows.dropFirst().map { Double($0.split(separator: "\t")[4])! }
        XCTAssertEqual(losses.count, object["masked_tokens"] as? Int)
        XCTAssertGreaterThan(losses.count, 0)
        XCTAssertEqual(losses.reduce(0, +) / Double(losses.count), try XCTUnwrap(object["mlm_loss"] as? Double), accuracy: 1e-9)
        let mentions = rows.dropFirst().filter { $0.split(separator: "\t")[3] == "1" }.count
        XCTAssertEqual(mentions, object["mention_masked_tokens"] as? Int)
        let noMLM = try CommandRunner.run(["eval", tmp + "/run", "--no-mlm", "--token-losses", tsvPath])
        XCTAssertNotEqual(noMLM.status, 0)
        XCTAssertTrue(noMLM.stderr.contains("--token-losses"), noMLM.stderr)

        // clear errors
        let badSplit = try CommandRunner.run(["eval", tmp + "/run", "--split", "train"])
        XCTAssertNotEqual(badSplit.status, 0)
        XCTAssertTrue(badSplit.stderr.contains("valid or test"), badSplit.stderr)
        let missing = try CommandRunner.run(["eval", tmp + "/nothing-here"])
        XCTAssertNotEqual(missing.status, 0)
    }
}

/// `train` evaluates on the validation split every `eval.every` steps, logs it to
/// metrics.jsonl and keeps the best checkpoint as `best`.
final class TrainEvaluationTests: XCTestCase {
    func testTrainEvaluatesAndKeepsTheBest() throws {
        let ex = PreparedExample(name: "train-eval")
        defer { ex.remove() }
        let tmp = ex.directory
        let prep = try ex.prepare(splits: ["--valid-segments", "0.2", "--test-segments", "0.1", "--valid-triples", "0.2", "--test-triples", "0.1"])
        XCTAssertEqual(prep.status, 0, prep.stderr + prep.stdout)
        let train = try CommandRunner.run(["train", "--config", PreparedExample.tinyConfig] + ex.trainOverrides + [
                                           "--set", "train.steps=4", "--set", "eval.every=2", "--set", "checkpoint.every=0",
                                           "--out", tmp + "/run"])
        XCTAssertEqual(train.status, 0, train.stderr)
        let lines = try String(contentsOfFile: tmp + "/run/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let evals = try lines.compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }.filter { $0["eval"] != nil }
        XCTAssertEqual(evals.map { $0["step"] as? Int }, [2, 4])
        let best = try String(contentsOfFile: tmp + "/run/checkpoints/best", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(["ckpt-00000002.h5", "ckpt-00000004.h5"].contains(best), best)
        XCTAssertTrue(FileManager.default.fileExists(atPath: tmp + "/run/checkpoints/" + best))
    }
}
