import XCTest
import KELMModel
import KELMNumerics
import KELMTestSupport

/// The whole masked LM's backward against finite differences, every parameter tensor.
final class BertGradientTests: XCTestCase {
    static let config = BertConfig(vocabSize: 23, hiddenSize: 8, numLayers: 2, numHeads: 2, ffnSize: 12,
                                   maxPositions: 10, typeVocabSize: 2, padTokenId: 0,
                                   hiddenDropout: 0.1, attentionDropout: 0.1)

    /// Two segments of 6 tokens, the second padded after 4; three labelled positions.
    static func makeBatch() -> TokenBatch { FusionTestData.text() }

    func checkAllParameters(mode: ForwardMode, logits: LogitPositions) throws {
        let c = Self.config
        let model = try BertMaskedLM(config: c, maxBatch: 2, maxTokens: 6, logits: logits)
        try model.initializeParameters(seed: 5)
        // larger weights than N(0, 0.02²) so every path carries signal
        var rng = TestRandom(seed: 6)
        for e in model.store.table.entries {
            let p = e.ref.pointer(in: model.store.values.pointer)
            for i in 0..<e.count { p[i] += rng.normal(0.3) }
        }
        let batch = Self.makeBatch()
        func loss() -> Double { model.forward(batch, mode: mode).meanLoss }
        let out = model.forward(batch, mode: mode)
        XCTAssertEqual(out.count, 3)
        model.store.zeroGrads()
        model.backward(batch, scale: Float(1.0 / Double(out.count)), sinks: .all(model.store.grads.pointer))
        let check = GradientCheck(eps: 1e-2, absoluteTolerance: 2e-3, relativeTolerance: 3e-2, maxChecks: 24)
        for e in model.store.table.entries {
            let r = check.check(e.name, x: e.ref.pointer(in: model.store.values.pointer), count: e.count,
                                analytic: e.ref.pointer(in: model.store.grads.pointer), loss: loss)
            XCTAssertTrue(r.passed, r.description)
        }
        // [PAD] row: only the tied decoder contributes
        let padGrad = try model.store.grads("lm.embeddings.word_embeddings.weight")
        XCTAssertTrue((0..<c.hiddenSize).contains { padGrad[$0] != 0 }, "decoder gives the pad row a gradient")
    }

    func testGradientsWithoutDropout() throws {
        try checkAllParameters(mode: .inference, logits: .masked)
    }

    func testGradientsWithDropout() throws {
        try checkAllParameters(mode: ForwardMode(dropout: true, seed: 3, epoch: 1), logits: .masked)
    }

    func testAllPositionsGivesSameLossAndGradients() throws {
        let c = Self.config
        let a = try BertMaskedLM(config: c, maxBatch: 2, maxTokens: 6, logits: .masked)
        let b = try BertMaskedLM(config: c, maxBatch: 2, maxTokens: 6, logits: .all)
        try a.initializeParameters(seed: 1)
        try b.initializeParameters(seed: 1)
        let batch = Self.makeBatch()
        let oa = a.forward(batch, mode: .inference), ob = b.forward(batch, mode: .inference)
        XCTAssertEqual(oa.lossSum, ob.lossSum, accuracy: 1e-5)
        XCTAssertEqual(b.head.selectedRows, 12)
        XCTAssertEqual(a.head.selectedRows, 3)
        a.backward(batch, scale: 1, sinks: .all(a.store.grads.pointer))
        b.backward(batch, scale: 1, sinks: .all(b.store.grads.pointer))
        let ga = a.store.grads.toArray(), gb = b.store.grads.toArray()
        for i in 0..<ga.count { XCTAssertEqual(ga[i], gb[i], accuracy: 1e-6) }
    }

    func testFrozenGroupsGetNoGradient() throws {
        let c = Self.config
        let model = try BertMaskedLM(config: c, maxBatch: 2, maxTokens: 6)
        try model.initializeParameters(seed: 2)
        let batch = Self.makeBatch()
        let g = model.store.grads.pointer
        _ = model.forward(batch, mode: .inference)
        model.backward(batch, scale: 1, sinks: GradientSinks(embeddings: nil, attention: nil, ffn: g, heads: g))
        for e in model.store.table.entries {
            let grads = UnsafeBufferPointer(start: e.ref.pointer(in: g), count: e.count)
            let frozen = e.name.hasPrefix("lm.embeddings.") || e.name.contains(".attention.")
            if frozen {
                XCTAssertTrue(grads.allSatisfy { $0 == 0 }, "\(e.name) is frozen")
            } else if e.name.contains("intermediate.dense.weight") {
                XCTAssertTrue(grads.contains { $0 != 0 }, "\(e.name) must still get a gradient")
            }
        }
    }
}

/// Hugging Face's `padding_idx`: a `[PAD]` token inside the attended text still gives its
/// embedding row no gradient from the input side.
final class PadRowTests: XCTestCase {
    func testPadTokenAtRealPositionGetsNoInputGradient() throws {
        let c = BertConfig(vocabSize: 7, hiddenSize: 4, numLayers: 0, numHeads: 2, ffnSize: 8, maxPositions: 4,
                           hiddenDropout: 0, attentionDropout: 0)
        var table = ParameterTable()
        let p = try BertEmbeddings.Parameters(&table, config: c)
        let store = ParameterStore(table: table)
        store.initialize(seed: 1)
        let embeddings = BertEmbeddings(p, config: c, maxRows: 4)
        let batch = TokenBatch(capacityBatch: 1, capacityTokens: 4)
        for (i, id) in [2, 0, 5, 0].enumerated() {
            batch.inputIds.pointer[i] = Int32(id)
            batch.attentionMask.pointer[i] = 1
        }
        embeddings.forward(batch: batch, params: store.values.pointer, mode: .inference)
        var rng = TestRandom(seed: 2)
        let dOut = rng.buffer(16)
        embeddings.backward(dOutput: dOut.pointer, batch: batch, params: store.values.pointer, grads: store.grads.pointer)
        let word = try store.grads("lm.embeddings.word_embeddings.weight")
        XCTAssertTrue((0..<4).allSatisfy { word[$0] == 0 }, "[PAD] row")
        XCTAssertTrue((0..<4).contains { word[5 * 4 + $0] != 0 }, "a real token's row")
        // the positions of the pad tokens still get their gradient
        let pos = try store.grads("lm.embeddings.position_embeddings.weight")
        XCTAssertTrue((0..<4).contains { pos[1 * 4 + $0] != 0 })
    }
}
