import Foundation
import KELMBatches
import KELMData
import KELMEvaluation
import KELMModel
import KELMNumerics
import XCTest
@testable import KELMEvaluation
import KELMTraining
import KELMTrainingTestSupport

/// The evaluator on a small prepared dataset (`EvaluationFixture`), against direct computations.
final class EvaluatorTests: XCTestCase {
    nonisolated(unsafe) static var directory = ""
    nonisolated(unsafe) static var dataPath = ""

    override class func setUp() {
        super.setUp()
        (directory, dataPath) = EvaluationFixture.prepareForTestClass("evaluator")
    }

    override class func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
        super.tearDown()
    }

    /// The fixture has what the tests need, and held-out pairs have no edge in the training graph.
    func testHeldOutPairsHaveNoTrainingEdge() throws {
        let dataset = try DatasetFile(path: Self.dataPath)
        XCTAssertGreaterThan(dataset.segmentCount(.valid), 5)
        XCTAssertGreaterThan(dataset.segmentCount(.test), 3)
        let heldOut = try dataset.triples(.valid) + dataset.triples(.test)
        XCTAssertGreaterThan(try dataset.triples(.valid).count, 3)
        XCTAssertGreaterThan(try dataset.triples(.train).count, 50)
        let graph = dataset.trainingGraph
        for t in heldOut {
            XCTAssertFalse(graph.connected(t.head, t.tail), "\(t)")
            XCTAssertFalse(graph.connected(t.tail, t.head), "\(t)")
        }
        // so the segment of an entity never carries an edge of its held-out pair
        var builder = EntitySubgraphBuilder(graph: graph, maxNodes: 64, maxEdges: 10_000)
        for t in heldOut {
            let s = builder.build(t.head)
            let positions = Set(s.nodes.enumerated().filter { $0.element == t.head || $0.element == t.tail }.map { Int32($0.offset) })
            XCTAssertFalse(s.edges.contains { positions.contains($0.source) && positions.contains($0.target) }, "\(t)")
        }
    }

    /// An entity's segment graph: the entity, its distinct neighbours by ascending id up to
    /// J − 2, and exactly the training edges among them; neighbours dropped to fit the edges.
    func testEntitySubgraph() throws {
        let dataset = try DatasetFile(path: Self.dataPath)
        let graph = dataset.trainingGraph, R = Int32(graph.relationCount)
        for J in [2, 5, 64] {
            var builder = EntitySubgraphBuilder(graph: graph, maxNodes: J, maxEdges: 10_000)
            for e in 0..<Int32(graph.nodeCount) {
                let s = builder.build(e)
                XCTAssertEqual(s.nodes.first, e)
                let neighbours = Array(Set(graph.entries(of: e).map { graph.neighbors[$0] })).sorted()
                XCTAssertEqual(Array(s.nodes.dropFirst()), Array(neighbours.prefix(J - 2)))
                var expected = 0
                for (i, u) in s.nodes.enumerated() {
                    for entry in graph.entries(of: u) where graph.relations[entry] < R {
                        if let j = s.nodes.firstIndex(of: graph.neighbors[entry]) {
                            expected += 1
                            XCTAssertTrue(s.edges.contains { $0.source == Int32(i) && $0.target == Int32(j) && $0.relation == graph.relations[entry] })
                        }
                    }
                }
                XCTAssertEqual(s.edges.count, expected)
                XCTAssertEqual(s.edgeCount, 2 * expected + 2 + s.nodes.count + 1)
            }
        }
        // too many edges for the batch: neighbours go from the end until it fits
        let hub = (0..<Int32(graph.nodeCount)).max { graph.entries(of: $0).count < graph.entries(of: $1).count }!
        var full = EntitySubgraphBuilder(graph: graph, maxNodes: 64, maxEdges: 10_000)
        let all = full.build(hub)
        var tight = EntitySubgraphBuilder(graph: graph, maxNodes: 64, maxEdges: all.edgeCount - 1)
        let cut = tight.build(hub)
        XCTAssertLessThan(cut.nodes.count, all.nodes.count)
        XCTAssertLessThanOrEqual(cut.edgeCount, all.edgeCount - 1)
        XCTAssertEqual(cut.nodes, Array(all.nodes.prefix(cut.nodes.count)))
    }

    /// Masked-LM metrics equal a direct computation: each held-out segment alone through the
    /// model, the model's own loss sum and hits, then again with only the mention positions labelled.
    func testMaskedLMMatchesDirectComputation() throws {
        let (trainer, data) = try EvaluationFixture.trainer(data: Self.dataPath)
        let model = trainer.model, dataset = data.dataset
        var options = EvaluationOptions(config: trainer.config)
        options.linkPrediction = false
        let evaluator = try Evaluator(model: model, data: try EvaluationData(training: data, split: .valid), options: options)
        XCTAssertEqual(evaluator.batchSize, 3)
        let result = try evaluator.evaluate(memory: trainer.memory.rows, collective: SingleProcess())

        let J = trainer.config.model.maxNodes, T = model.maxTokens
        let one = TrainingBatch(segments: 1, tokens: T, maxNodes: J, relationCount: dataset.relationCount)
        let assembler = BatchAssembler(graph: dataset.trainingGraph, maxNodes: J, vocabularySize: dataset.vocabularySize,
                                       specialTokens: dataset.specialTokens, seed: UInt64(trainer.config.data.seed))
        let batch = FusionBatch(batch: 1, tokens: T, nodesPerSegment: J, edgesPerSegment: 32 * J)
        var loss = 0.0, count = 0, correct = 0, mentionLoss = 0.0, mentionCount = 0, mentionCorrect = 0
        var lpLoss = 0.0, lpCount = 0
        for i in 0..<dataset.segmentCount(.valid) {
            assembler.begin(one)
            assembler.append(try dataset.segment(i, split: .valid), sample: i, epoch: 0, to: one)
            try batch.load(from: one, numRelations: dataset.relationCount, entityCount: dataset.entityCount)
            let out = model.forward(text: batch.text, graph: batch.graph, links: batch.links,
                                    memory: trainer.memory.rows, mode: .inference)
            // the evaluator's per-row sums are the model's own
            let sums = Evaluator.maskedTokenSums(head: model.mlmHead, labels: batch.text.labels.pointer,
                                                 mentionMask: batch.mentionMask.pointer, vocabulary: model.config.bert.vocabSize)
            XCTAssertEqual(sums[Evaluator.Sum.loss.rawValue], out.mlmLossSum)
            XCTAssertEqual(sums[Evaluator.Sum.correct.rawValue], Double(out.mlmCorrect))
            loss += out.mlmLossSum; count += out.mlmCount; correct += out.mlmCorrect
            lpLoss += out.lpLossSum; lpCount += out.lpCount
            for r in 0..<batch.text.rows where batch.mentionMask.pointer[r] == 0 { batch.text.labels.pointer[r] = -100 }
            let mention = model.forward(text: batch.text, graph: batch.graph, links: batch.links,
                                        memory: trainer.memory.rows, mode: .inference)
            mentionLoss += mention.mlmLossSum; mentionCount += mention.mlmCount; mentionCorrect += mention.mlmCorrect
        }
        XCTAssertEqual(result.segments, dataset.segmentCount(.valid))
        XCTAssertEqual(result.maskedTokens, count)
        XCTAssertEqual(result.mentionMaskedTokens, mentionCount)
        XCTAssertGreaterThan(mentionCount, 0)
        XCTAssertLessThan(mentionCount, count)
        let mlm = try XCTUnwrap(result.mlmLoss), mentionMLM = try XCTUnwrap(result.mentionMLMLoss)
        XCTAssertEqual(mlm, loss / Double(count), accuracy: 1e-5 * mlm)
        XCTAssertEqual(try XCTUnwrap(result.mlmPerplexity), exp(mlm), accuracy: 1e-9 * exp(mlm))
        XCTAssertEqual(try XCTUnwrap(result.mlmAccuracy), Double(correct) / Double(count), accuracy: 1e-12)
        XCTAssertEqual(mentionMLM, mentionLoss / Double(mentionCount), accuracy: 1e-5 * mentionMLM)
        XCTAssertEqual(try XCTUnwrap(result.mentionMLMAccuracy), Double(mentionCorrect) / Double(mentionCount), accuracy: 1e-12)
        XCTAssertEqual(result.lpPositives, lpCount)
        if lpCount > 0 { XCTAssertEqual(try XCTUnwrap(result.lpLoss), lpLoss / Double(lpCount), accuracy: 1e-5) }
        XCTAssertNil(result.mrr)
        XCTAssertEqual(result.triples, 0)
        // a random model's loss is about log V
        XCTAssertEqual(mlm, log(30522), accuracy: 1.5)
        XCTAssertNil(result.tokenLosses, "kept only when asked")

        // every masked token's loss: the same tokens, labels and sums as above
        options.recordTokenLosses = true
        let recording = try Evaluator(model: model, data: try EvaluationData(training: data, split: .valid), options: options)
        let detailed = try recording.evaluate(memory: trainer.memory.rows, collective: SingleProcess())
        let tokens = try XCTUnwrap(detailed.tokenLosses)
        XCTAssertEqual(tokens.count, count)
        XCTAssertEqual(tokens.filter(\.mention).count, mentionCount)
        XCTAssertEqual(tokens.reduce(0) { $0 + $1.loss } / Double(count), mlm, accuracy: 1e-9 * mlm)
        XCTAssertEqual(tokens.filter(\.mention).reduce(0) { $0 + $1.loss } / Double(mentionCount), mentionMLM, accuracy: 1e-9 * mentionMLM)
        for t in tokens {
            // the recorded token is the segment's label there (the loader masks segment i the
            // same way in a batch of one)
            assembler.begin(one)
            assembler.append(try dataset.segment(t.segment, split: .valid), sample: t.segment, epoch: 0, to: one)
            try batch.load(from: one, numRelations: dataset.relationCount, entityCount: dataset.entityCount)
            XCTAssertEqual(Int(batch.text.labels.pointer[t.position]), t.token, "segment \(t.segment) position \(t.position)")
            XCTAssertEqual(batch.mentionMask.pointer[t.position] != 0, t.mention)
        }
    }

    /// Link prediction equals brute force over the entity states: every candidate scored in
    /// float64 with the DistMult formula, other true answers removed, ties at the mean rank.
    func testLinkPredictionMatchesBruteForce() throws {
        let (trainer, data) = try EvaluationFixture.trainer(data: Self.dataPath)
        let model = trainer.model
        var options = EvaluationOptions(config: trainer.config)
        options.maskedLM = false
        options.queryChunk = 5
        let evalData = try EvaluationData(training: data, split: .test)
        let evaluator = try Evaluator(model: model, data: evalData, options: options)
        let memory = trainer.memory.rows
        let result = try evaluator.evaluate(memory: memory, collective: SingleProcess())
        XCTAssertNil(result.mlmLoss)
        XCTAssertEqual(result.triples, evalData.triples.count)
        XCTAssertEqual(result.candidates, evalData.entityCount)

        let (plan, states) = try evaluator.candidateStates(memory: memory, collective: SingleProcess(), step: 0)
        XCTAssertEqual(plan.candidates, (0..<Int32(evalData.entityCount)).map { $0 })
        let g = model.config.gnnHidden
        let w = try model.store.values("linkpred.relation.weight")
        let all = try evalData.dataset.triples(.train) + evalData.dataset.triples(.valid) + evalData.dataset.triples(.test)
        func score(_ a: Int32, _ r: Int32, _ b: Int32) -> Double {
            var s = 0.0
            for c in 0..<g {
                s += Double(states.pointer[Int(a) * g + c]) * Double(w[Int(r) * g + c]) * Double(states.pointer[Int(b) * g + c])
            }
            return s / Double(g).squareRoot()
        }
        var ranks: [Double] = []
        for t in evalData.triples {
            for tailSide in [true, false] {
                let target = tailSide ? t.tail : t.head
                let truth = score(t.head, t.relation, t.tail)
                var higher = 0, equal = 0
                for e in 0..<Int32(evalData.entityCount) where e != target {
                    let candidate = tailSide ? Triple(head: t.head, relation: t.relation, tail: e)
                                             : Triple(head: e, relation: t.relation, tail: t.tail)
                    if all.contains(candidate) { continue }
                    let s = tailSide ? score(t.head, t.relation, e) : score(e, t.relation, t.tail)
                    if abs(s - truth) < 1e-12 { equal += 1 } else if s > truth { higher += 1 }
                }
                ranks.append(1 + Double(higher) + Double(equal) / 2)
            }
        }
        let expected = RankingMetrics(ranks: ranks)
        XCTAssertEqual(try XCTUnwrap(result.mrr), try XCTUnwrap(expected.mrr), accuracy: 1e-12)
        XCTAssertEqual(result.hits1, expected.hits(1))
        XCTAssertEqual(result.hits3, expected.hits(3))
        XCTAssertEqual(result.hits10, expected.hits(10))

        // an entity's state does not depend on the batch it is computed in
        options.batch = 1
        let alone = try Evaluator(model: model, data: evalData, options: options)
        let (_, single) = try alone.candidateStates(memory: memory, collective: SingleProcess(), step: 0)
        var worst: Float = 0
        for i in 0..<states.count { worst = max(worst, abs(states.pointer[i] - single.pointer[i])) }
        XCTAssertLessThan(worst, 1e-4)
        // the states are LayerNorm outputs, not zeros
        XCTAssertGreaterThan((0..<states.count).map { abs(states.pointer[$0]) }.max() ?? 0, 0.1)
    }

    /// `maxEntities` keeps the ranked triples' entities and fills up with a seeded sample.
    func testCandidateLimit() throws {
        let (trainer, data) = try EvaluationFixture.trainer(data: Self.dataPath)
        var options = EvaluationOptions(config: trainer.config)
        let evalData = try EvaluationData(training: data, split: .valid)
        let required = Set(evalData.triples.flatMap { [$0.head, $0.tail] })
        for limit in [1, required.count + 4, 1000] {
            options.maxEntities = limit
            let evaluator = try Evaluator(model: trainer.model, data: evalData, options: options)
            let c = evaluator.candidates()
            XCTAssertEqual(c, c.sorted())
            XCTAssertEqual(Set(c).count, c.count)
            XCTAssertTrue(required.isSubset(of: Set(c)))
            XCTAssertEqual(c.count, min(evalData.entityCount, max(limit, required.count)))
            XCTAssertEqual(c, evaluator.candidates(), "seeded")
        }
        options.maxEntities = required.count + 4
        options.maxTriples = 2
        options.maskedLM = false
        let result = try Evaluator(model: trainer.model, data: evalData, options: options)
            .evaluate(memory: trainer.memory.rows, collective: SingleProcess())
        XCTAssertEqual(result.triples, 2)
        XCTAssertEqual(result.candidates, required.count + 4)
        XCTAssertNotNil(result.mrr)
    }

    /// Evaluating twice gives the same result; the model's parameters are untouched.
    func testEvaluationIsRepeatableAndReadOnly() throws {
        let (trainer, data) = try EvaluationFixture.trainer(data: Self.dataPath)
        let before = trainer.model.store.values.toArray()
        let evaluator = try Evaluator(model: trainer.model, data: try EvaluationData(training: data, split: .valid),
                                      options: EvaluationOptions(config: trainer.config))
        var a = try evaluator.evaluate(memory: trainer.memory.rows, collective: SingleProcess(), step: 3)
        var b = try evaluator.evaluate(memory: trainer.memory.rows, collective: SingleProcess(), step: 3)
        a.seconds = 0
        b.seconds = 0
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.step, 3)
        XCTAssertEqual(trainer.model.store.values.toArray(), before)
        // and training continues afterwards
        XCTAssertTrue(try trainer.trainStep().loss.isFinite)
    }

    /// Synthetic data has no held-out split: a clear error.
    func testSyntheticDataIsRefused() throws {
        let synthetic = SyntheticTrainingData(segments: 8, entities: 20, relations: 3, vocabSize: 300, tokens: 12,
                                              nodesPerSegment: 6, seed: 1)
        XCTAssertThrowsError(try EvaluationData(training: synthetic, split: .valid)) { error in
            XCTAssertTrue("\(error)".contains("prepare"), "\(error)")
        }
    }
}
