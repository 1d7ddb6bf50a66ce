import XCTest
import KELMModel
import KELMNumerics
import KELMTestSupport

/// Whole models on 2 and 3 compute threads give the loss and gradients of one thread; the MLM
/// head's in-place logit gradient survives a repeated backward.
final class ParallelModelTests: XCTestCase {
    override func tearDown() {
        Parallel.setThreads(1)
        super.tearDown()
    }

    /// Large enough that every kernel splits its work (rows 256, d 128, d_ff 512, V 2000).
    static let config = BertConfig(vocabSize: 2000, hiddenSize: 128, numLayers: 2, numHeads: 4, ffnSize: 512,
                                   maxPositions: 64, hiddenDropout: 0.1, attentionDropout: 0.1)

    static func batch() -> TokenBatch {
        let b = TokenBatch(capacityBatch: 4, capacityTokens: 64)
        var rng = TestRandom(seed: 9)
        for i in 0..<(4 * 64) {
            b.inputIds.pointer[i] = Int32(1 + rng.int(below: 1999))
            b.attentionMask.pointer[i] = i % 64 < 64 - 9 * (i / 64) ? 1 : 0
            b.labels.pointer[i] = i % 5 == 1 ? Int32(rng.int(below: 2000)) : -100
        }
        for s in 0..<4 { b.sampleIndices[s] = UInt64(10 + s) }
        return b
    }

    func run(threads: Int, logits: LogitPositions) throws -> (loss: Double, grads: [Float], table: ParameterTable) {
        Parallel.setThreads(threads)
        defer { Parallel.setThreads(1) }
        let model = try BertMaskedLM(config: Self.config, maxBatch: 4, maxTokens: 64, logits: logits)
        try model.initializeParameters(seed: 3)
        let batch = Self.batch()
        let mode = ForwardMode(dropout: true, seed: 4, epoch: 2)
        let out = model.forward(batch, mode: mode)
        model.store.zeroGrads()
        model.backward(batch, scale: Float(1 / Double(out.count)), sinks: .all(model.store.grads.pointer))
        return (out.meanLoss, model.store.grads.toArray(), model.store.table)
    }

    func testMaskedLMOnSeveralThreads() throws {
        for logits in [LogitPositions.all, .masked] {
            let one = try run(threads: 1, logits: logits)
            // tensors whose gradient is analytically 0 (the key biases) are judged on the model's scale
            let global = one.grads.map { abs($0) }.max() ?? 1
            for t in [2, 3] {
                let many = try run(threads: t, logits: logits)
                XCTAssertEqual(many.loss, one.loss, accuracy: 1e-6 * abs(one.loss), "\(t) threads, \(logits)")
                for e in one.table.entries {
                    let a = one.grads[e.offset..<(e.offset + e.count)], b = many.grads[e.offset..<(e.offset + e.count)]
                    let scale = max(a.map { abs($0) }.max() ?? 0, 1e-12)
                    let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                    XCTAssertLessThanOrEqual(worst, 1e-4 * scale + 1e-7 * global, "\(e.name), \(t) threads, \(logits)")
                }
            }
        }
    }

    func testFusionModelOnSeveralThreads() throws {
        func run(_ threads: Int) throws -> (Double, [Float]) {
            Parallel.setThreads(threads)
            defer { Parallel.setThreads(1) }
            let model = try FusionTestData.model(logits: .all)
            try model.initializeParameters(seed: 2)
            let text = FusionTestData.text(), graph = try FusionTestData.graph(), links = try FusionTestData.links()
            let memory = FusionTestData.memory()
            let mode = ForwardMode(dropout: true, seed: 1, epoch: 0)
            let out = model.forward(text: text, graph: graph, links: links, memory: memory.pointer, mode: mode)
            let norm = LossNormalization(mlmCount: out.mlmCount, lpCount: out.lpCount)
            model.store.zeroGrads()
            model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: .all(model.store.grads.pointer))
            return (norm.total(mlmSum: out.mlmLossSum, lpSum: out.lpLossSum), model.store.grads.toArray())
        }
        let (l1, g1) = try run(1)
        for t in [2, 3] {
            let (l, g) = try run(t)
            XCTAssertEqual(l, l1, accuracy: 1e-6 * abs(l1))
            let scale = g1.map { abs($0) }.max() ?? 1
            XCTAssertLessThanOrEqual(zip(g, g1).map { abs($0 - $1) }.max() ?? 0, 1e-5 * scale)
        }
    }

    /// Backward turns the logits into their gradient in place; a second backward after the same
    /// forward (another scale) still adds the right gradient.
    func testRepeatedBackwardAfterOneForward() throws {
        let c = BertGradientTests.config
        let model = try BertMaskedLM(config: c, maxBatch: 2, maxTokens: 6, logits: .all)
        try model.initializeParameters(seed: 7)
        let batch = BertGradientTests.makeBatch()
        _ = model.forward(batch, mode: .inference)
        model.store.zeroGrads()
        model.backward(batch, scale: 0.5, sinks: .all(model.store.grads.pointer))
        let first = model.store.grads.toArray()
        model.store.zeroGrads()
        model.backward(batch, scale: 1.5, sinks: .all(model.store.grads.pointer))
        let second = model.store.grads.toArray()
        model.backward(batch, scale: 1.5, sinks: .all(model.store.grads.pointer))
        let third = model.store.grads.toArray()
        let scale = first.map { abs($0) }.max() ?? 1
        for i in 0..<first.count {
            XCTAssertEqual(second[i], 3 * first[i], accuracy: 1e-5 * scale)
            XCTAssertEqual(third[i], 2 * second[i], accuracy: 1e-5 * scale)
        }
    }
}
