import Foundation
import KELMData
import XCTest
import KELMEvaluation
@testable import KELMEvaluation
import KELMTraining
import KELMTrainingTestSupport

/// The ranking and metric arithmetic of evaluation on hand-made cases whose answers are known.
final class EvaluationMetricTests: XCTestCase {
    func testFilteredRankWithKnownScores() {
        let scores: [Float] = [0.9, 0.5, 0.7, 0.7, 0.1, 0.8]
        // target 2 (0.7): higher 0 and 5, equal 3 → 1 + 2 + ½
        XCTAssertEqual(FilteredRanking.rank(scores: scores, target: 2, filtered: []), 3.5)
        // another true answer above it is removed
        XCTAssertEqual(FilteredRanking.rank(scores: scores, target: 2, filtered: [0]), 2.5)
        // and the tied one
        XCTAssertEqual(FilteredRanking.rank(scores: scores, target: 2, filtered: [0, 3]), 2)
        // candidates below it never count, filtered or not
        XCTAssertEqual(FilteredRanking.rank(scores: scores, target: 0, filtered: [4]), 1)
        XCTAssertEqual(FilteredRanking.rank(scores: scores, target: 4, filtered: []), 6)
        XCTAssertEqual(FilteredRanking.rank(scores: scores, target: 4, filtered: [1, 2, 3]), 3)
    }

    /// Ties: n equal scores give the expected rank of a random order, (n + 1) / 2.
    func testEqualScoresGiveTheMeanRank() {
        let scores = [Float](repeating: 0.25, count: 9)
        XCTAssertEqual(FilteredRanking.rank(scores: scores, target: 4, filtered: []), 5)
        XCTAssertEqual(FilteredRanking.rank(scores: scores, target: 0, filtered: [1, 2]), 4)
    }

    func testRankingMetrics() throws {
        let m = RankingMetrics(ranks: [1, 2, 4, 12, 3.5])
        XCTAssertEqual(m.count, 5)
        XCTAssertEqual(try XCTUnwrap(m.mrr), (1 + 0.5 + 0.25 + 1.0 / 12 + 1 / 3.5) / 5, accuracy: 1e-15)
        XCTAssertEqual(m.hits(1), 0.2)
        XCTAssertEqual(m.hits(3), 0.4)
        XCTAssertEqual(m.hits(10), 0.8)
        XCTAssertNil(RankingMetrics().mrr)
        XCTAssertNil(RankingMetrics().hits(10))
    }

    func testKnownTriplesIndexBothDirections() {
        let known = KnownTriples([Triple(head: 1, relation: 0, tail: 2), Triple(head: 1, relation: 0, tail: 3),
                                  Triple(head: 4, relation: 0, tail: 3), Triple(head: 1, relation: 1, tail: 2)])
        XCTAssertEqual(known.tails(head: 1, relation: 0).sorted(), [2, 3])
        XCTAssertEqual(known.tails(head: 1, relation: 1), [2])
        XCTAssertEqual(known.heads(tail: 3, relation: 0).sorted(), [1, 4])
        XCTAssertEqual(known.heads(tail: 2, relation: 2), [])
    }

    /// Every documented key is present; what could not be computed is null.
    func testResultJSONHasEveryKey() throws {
        var r = EvaluationResult(split: "valid")
        r.mlmLoss = 2.5
        r.mlmAccuracy = 0.25
        r.mrr = 0.5
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try r.jsonString().utf8)) as? [String: Any])
        for key in ["mlm_loss", "mlm_accuracy", "mention_mlm_loss", "mrr", "hits@1", "hits@3", "hits@10", "mlm_perplexity",
                    "mention_mlm_accuracy", "lp_loss", "segments", "masked_tokens", "mention_masked_tokens", "triples",
                    "candidates", "split", "step", "seconds"] {
            XCTAssertNotNil(object[key], key)
        }
        XCTAssertEqual(object["mlm_loss"] as? Double, 2.5)
        XCTAssertTrue(object["mention_mlm_loss"] is NSNull)
        XCTAssertEqual(try JSONDecoder().decode(EvaluationResult.self, from: Data(try r.jsonString().utf8)), r)
        // the metrics.jsonl record nests it
        let line = try JSONEncoder().encode(EvaluationLogRecord(step: 7, eval: r))
        let record = try XCTUnwrap(try JSONSerialization.jsonObject(with: line) as? [String: Any])
        XCTAssertEqual(record["step"] as? Int, 7)
        XCTAssertEqual((record["eval"] as? [String: Any])?["mrr"] as? Double, 0.5)
    }

    func testBestIsTheLowerValidationMLMLoss() {
        var a = EvaluationResult(split: "valid"), b = EvaluationResult(split: "valid")
        a.mlmLoss = 3
        b.mlmLoss = 2.5
        XCTAssertTrue(a.isBetter(than: nil))
        XCTAssertTrue(b.isBetter(than: a))
        XCTAssertFalse(a.isBetter(than: b))
        XCTAssertFalse(a.isBetter(than: a))
        var none = EvaluationResult(split: "valid")
        XCTAssertFalse(none.isBetter(than: a))
        XCTAssertTrue(a.isBetter(than: none))
        none.mlmLoss = .nan
        XCTAssertFalse(none.isBetter(than: nil))
    }

    /// Ranks take contiguous blocks that cover everything once, balanced by cost when given.
    func testBlocksCoverTheBatchesInOrder() {
        for size in 1...5 {
            for count in [0, 1, 3, 10, 17] {
                let cost = (0..<count).map { Double($0 % 4 + 1) }
                for c in [nil, cost] {
                    var next = 0
                    for r in 0..<size {
                        let b = Evaluator.block(count: count, rank: r, size: size, cost: c)
                        XCTAssertEqual(b.lowerBound, next)
                        next = b.upperBound
                    }
                    XCTAssertEqual(next, count)
                }
            }
        }
        // cost-balanced: two cheap halves against one expensive item
        XCTAssertEqual(Evaluator.block(count: 3, rank: 0, size: 2, cost: [1, 1, 10]), 0..<2)
    }
}
