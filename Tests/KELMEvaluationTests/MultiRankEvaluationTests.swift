import Foundation
import KELMConfig
import KELMDistributed
import KELMEvaluation
import KELMMPI
import KELMNumerics
import XCTest
@testable import KELMEvaluation
import KELMTraining
import KELMTrainingTestSupport

/// Evaluation on N ranks gives exactly the metrics of one rank (docs/evaluation.md: fixed global
/// batches, per-batch sums and per-query ranks combined in global order). The test script runs
/// this class under mpirun -np 2 and -np 3; under plain `swift test` it runs at one rank. Every
/// rank prepares its own copy of the fixture and computes the one-rank reference itself.
final class MultiRankEvaluationTests: XCTestCase {
    func testRanksGiveTheMetricsOfOneRank() throws {
        let world = try MPIRuntime.world()
        let directory = EvaluationFixture.temporaryDirectory("eval-rank\(world.rank)")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try EvaluationFixture.prepare(into: directory)
        // micro-batch 2: the valid split's 16 segments make 8 batches, the entities 15, the
        // triples' 2 × |triples| queries several chunks of 3, so every rank has a share
        let (trainer, data) = try EvaluationFixture.trainer(data: path, microBatch: 2)
        let memory = trainer.memory.rows
        for split in [KELMConfig.EvalSection.Split.valid, .test] {
            var options = EvaluationOptions(config: trainer.config)
            options.queryChunk = 3
            let evaluator = try Evaluator(model: trainer.model, data: try EvaluationData(training: data, split: split.dataSplit),
                                          options: options)
            var distributed = try evaluator.evaluate(memory: memory, collective: MPICollective(world), step: 1)
            var single = try evaluator.evaluate(memory: memory, collective: SingleProcess(), step: 1)
            distributed.seconds = 0
            single.seconds = 0
            XCTAssertEqual(distributed, single, "\(world.size) ranks vs one, \(split)")
            XCTAssertNotNil(distributed.mlmLoss)
            XCTAssertNotNil(distributed.mentionMLMLoss)
            XCTAssertNotNil(distributed.mrr)
            XCTAssertGreaterThan(distributed.triples, 0)
            XCTAssertEqual(distributed.candidates, data.entityCount)
        }
        // limited candidates and triples too
        var options = EvaluationOptions(config: trainer.config)
        options.maxEntities = 12
        options.maxTriples = 3
        options.maxSegments = 5
        options.recordTokenLosses = true
        let evaluator = try Evaluator(model: trainer.model, data: try EvaluationData(training: data, split: .valid), options: options)
        var distributed = try evaluator.evaluate(memory: memory, collective: MPICollective(world))
        var single = try evaluator.evaluate(memory: memory, collective: SingleProcess())
        distributed.seconds = 0
        single.seconds = 0
        XCTAssertEqual(distributed, single)
        XCTAssertEqual(distributed.segments, 5)
        XCTAssertEqual(distributed.triples, 3)
        // the per-token losses too, in split order
        let tokens = try XCTUnwrap(distributed.tokenLosses)
        XCTAssertEqual(tokens.count, distributed.maskedTokens)
        XCTAssertEqual(tokens.map(\.segment), tokens.map(\.segment).sorted())
    }
}
