import KELMModel
import KELMNumerics
import KELMTestSupport
import XCTest

/// Perturbs `model`'s initial parameters (seeds 5 and 6), runs forward and backward on
/// `FusionTestData`'s batch and checks every parameter tensor's gradient by finite differences;
/// `each` makes further checks on a tensor's analytic gradient. Returns the forward's output.
@discardableResult
func checkGradientsByFiniteDifferences(_ model: FusionModel, mode: ForwardMode,
                                       each: (ParameterEntry, UnsafeBufferPointer<Float>) -> Void) throws -> FusionModel.Output {
    try model.initializeParameters(seed: 5)
    var rng = TestRandom(seed: 6)
    for e in model.store.table.entries {
        let p = e.ref.pointer(in: model.store.values.pointer)
        for i in 0..<e.count { p[i] += rng.normal(0.3) }
    }
    let text = FusionTestData.text(), graph = try FusionTestData.graph(), links = try FusionTestData.links()
    let memory = FusionTestData.memory()
    let norm = LossNormalization(mlmCount: 3, lpCount: 3, mlmWeight: 1, lpWeight: 0.7)
    func loss() -> Double {
        let o = model.forward(text: text, graph: graph, links: links, memory: memory.pointer, mode: mode)
        return norm.total(mlmSum: o.mlmLossSum, lpSum: o.lpLossSum)
    }
    let out = model.forward(text: text, graph: graph, links: links, memory: memory.pointer, mode: mode)
    model.store.zeroGrads()
    model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: .all(model.store.grads.pointer))
    model.linkHead.holdsAdversarialWeights = true
    let check = GradientCheck(eps: 1e-2, absoluteTolerance: 2e-3, relativeTolerance: 3e-2, maxChecks: 24)
    for e in model.store.table.entries {
        let r = check.check(e.name, x: e.ref.pointer(in: model.store.values.pointer), count: e.count,
                            analytic: e.ref.pointer(in: model.store.grads.pointer), loss: loss)
        XCTAssertTrue(r.passed, r.description)
        each(e, UnsafeBufferPointer(start: e.ref.pointer(in: model.store.grads.pointer), count: e.count))
    }
    return out
}

/// The fusion model's backward against finite differences: every parameter tensor, with and
/// without dropout.
final class FusionGradientTests: XCTestCase {
    func checkAllParameters(mode: ForwardMode) throws {
        let model = try FusionTestData.model()
        var groupsSeen = Set<String>()
        let out = try checkGradientsByFiniteDifferences(model, mode: mode) { e, g in
            groupsSeen.insert(String(e.name.split(separator: ".")[0]))
            // every tensor but the attention key biases and unused rows carries signal
            if !e.name.contains("key.bias") && !e.name.contains("position_embeddings") && !e.name.contains("token_type") {
                XCTAssertTrue(g.contains { $0 != 0 }, "\(e.name) has no gradient")
            }
        }
        XCTAssertEqual(out.mlmCount, 3)
        XCTAssertEqual(out.lpCount, 3)
        XCTAssertGreaterThan(out.lpLossSum, 0)
        XCTAssertEqual(groupsSeen, ["lm", "mlm", "gnn", "mint", "linkpred"])
    }

    func testGradientsWithoutDropout() throws { try checkAllParameters(mode: .inference) }

    func testGradientsWithDropout() throws {
        try checkAllParameters(mode: ForwardMode(dropout: true, seed: 3, epoch: 1))
    }
}

/// The word embeddings' input-side gradient collected as rows and added afterwards equals the
/// gradient added into the table directly.
final class WordEmbeddingRowsTests: XCTestCase {
    func testRowsPlusTableEqualsDirectGradient() throws {
        let model = try FusionTestData.model()
        try model.initializeParameters(seed: 2)
        let text = FusionTestData.text(), graph = try FusionTestData.graph(), links = try FusionTestData.links()
        let memory = FusionTestData.memory()
        let norm = LossNormalization(mlmCount: 3, lpCount: 3)
        _ = model.forward(text: text, graph: graph, links: links, memory: memory.pointer, mode: .inference)
        model.store.zeroGrads()
        model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: .all(model.store.grads.pointer))
        let direct = model.store.grads.toArray()
        model.store.zeroGrads()
        var sinks = GradientSinks.all(model.store.grads.pointer)
        let rows = SparseRows(capacity: 12, width: FusionTestData.config.bert.hiddenSize)
        sinks.wordEmbeddingRows = rows
        model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: sinks)
        XCTAssertEqual(rows.count, 10, "one row per non-pad token")
        rows.scatterAdd(into: try model.store.grads("lm.embeddings.word_embeddings.weight").baseAddress!)
        let split = model.store.grads.toArray()
        for i in 0..<direct.count { XCTAssertEqual(split[i], direct[i], accuracy: 1e-6) }
    }
}

/// Under frozen embeddings the lowest LM layer produces no input gradient, and with attention
/// frozen too its attention backward is skipped; the gradients of the groups still trained are
/// unchanged by the shortcut.
final class FrozenInputGradientTests: XCTestCase {
    private func attentionBackwardCalls(_ body: () -> Void) -> Int {
        KernelProfile.setEnabled(true)
        body()
        KernelProfile.stop()
        let index = KernelProfile.Kernel.allCases.firstIndex(of: .attention)!
        return KernelProfile.calls[index]
    }

    func testFusionModelSkipsTheLowestLayersAttentionBackward() throws {
        let model = try FusionTestData.model()
        try model.initializeParameters(seed: 3)
        let text = FusionTestData.text(), graph = try FusionTestData.graph(), links = try FusionTestData.links()
        let memory = FusionTestData.memory()
        let norm = LossNormalization(mlmCount: 3, lpCount: 3)
        let g = model.store.grads.pointer
        _ = model.forward(text: text, graph: graph, links: links, memory: memory.pointer, mode: .inference)
        model.store.zeroGrads()
        let fullCalls = attentionBackwardCalls {
            model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: .all(g))
        }
        let full = model.store.grads.toArray()
        model.store.zeroGrads()
        let frozen = GradientSinks(embeddings: nil, attention: nil, ffn: g, heads: g, gnn: g, mint: g)
        let frozenCalls = attentionBackwardCalls {
            model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: frozen)
        }
        let routed = model.store.grads.toArray()
        let layers = FusionTestData.config.bert.numLayers
        XCTAssertEqual(fullCalls, layers, "one attention backward per layer")
        XCTAssertEqual(frozenCalls, layers - 1, "the lowest layer's attention backward is skipped")
        var compared = 0
        for e in model.store.table.entries {
            let isFrozen = e.name.hasPrefix("lm.embeddings.") || e.name.contains(".attention.")
            for i in e.offset..<(e.offset + e.count) {
                if isFrozen {
                    XCTAssertEqual(routed[i], 0, e.name)
                } else if routed[i] != full[i] {
                    XCTFail("\(e.name)[\(i - e.offset)]: \(routed[i]) with frozen embeddings, \(full[i]) without")
                    break
                }
            }
            if !isFrozen { compared += 1 }
        }
        XCTAssertGreaterThan(compared, 20)
    }

    func testMaskedLMSkipsTheLowestLayersAttentionBackward() throws {
        let c = BertGradientTests.config
        let model = try BertMaskedLM(config: c, maxBatch: 2, maxTokens: 6)
        try model.initializeParameters(seed: 4)
        let batch = BertGradientTests.makeBatch()
        let g = model.store.grads.pointer
        _ = model.forward(batch, mode: .inference)
        model.store.zeroGrads()
        let fullCalls = attentionBackwardCalls { model.backward(batch, scale: 1, sinks: .all(g)) }
        let full = model.store.grads.toArray()
        model.store.zeroGrads()
        let frozenCalls = attentionBackwardCalls {
            model.backward(batch, scale: 1, sinks: GradientSinks(embeddings: nil, attention: nil, ffn: g, heads: g))
        }
        let routed = model.store.grads.toArray()
        XCTAssertEqual(fullCalls, c.numLayers)
        XCTAssertEqual(frozenCalls, c.numLayers - 1)
        for e in model.store.table.entries where e.name.contains(".intermediate.") || e.name.contains(".output.") {
            guard !e.name.contains(".attention.") else { continue }
            XCTAssertEqual(Array(routed[e.offset..<(e.offset + e.count)]), Array(full[e.offset..<(e.offset + e.count)]), e.name)
        }
    }
}

/// K = 0 (`model.fusion_layers: 0`, the LM alone of the ablation): every layer is text-only, so
/// the masked LM does not depend on the graph or the memory; the link head scores
/// n = GELU(V_h x⁰ + V_x x⁰); the backward matches finite differences, and the unused GNN
/// edge encoder and MInt receive no gradient.
final class LanguageModelAloneTests: XCTestCase {
    static func model() throws -> FusionModel {
        var c = FusionTestData.config
        c.fusionLayers = 0
        return try FusionModel(config: c, maxBatch: 2, maxTokens: 6, maxNodes: 10, maxEdges: 40, maxPositives: 4)
    }

    func testMaskedLMIgnoresTheGraphAndEqualsTheTextOnlyModel() throws {
        let model = try Self.model()
        try model.initializeParameters(seed: 4)
        XCTAssertFalse(model.store.table.entries.contains { $0.name.hasPrefix("gnn.layers.") }, "no GNN layer at K = 0")
        let text = FusionTestData.text(), graph = try FusionTestData.graph(), links = try FusionTestData.links()
        let a = model.forward(text: text, graph: graph, links: links, memory: FusionTestData.memory(seed: 1).pointer, mode: .inference)
        let hidden = Array(UnsafeBufferPointer(start: model.lastHiddenState, count: text.rows * FusionTestData.config.bert.hiddenSize))
        let b = model.forward(text: text, graph: graph, links: links, memory: FusionTestData.memory(seed: 2).pointer, mode: .inference)
        XCTAssertEqual(a.mlmLossSum, b.mlmLossSum, "the MLM must not read the memory at K = 0")
        XCTAssertNotEqual(a.lpLossSum, b.lpLossSum, "the link head reads it")
        // the same numbers as BERT alone with the same lm.* and mlm.* tensors
        let bert = try BertMaskedLM(config: FusionTestData.config.bert, maxBatch: 2, maxTokens: 6)
        for e in bert.store.table.entries {
            let src = try model.store.values(e.name)
            e.ref.pointer(in: bert.store.values.pointer).update(from: src.baseAddress!, count: e.count)
        }
        let text2 = FusionTestData.text()
        let r = bert.forward(text2, mode: .inference)
        XCTAssertEqual(r.lossSum, a.mlmLossSum, accuracy: 1e-4 * max(1, abs(a.mlmLossSum)))
        let bertHidden = UnsafeBufferPointer(start: bert.lastHiddenState, count: hidden.count)
        for i in 0..<hidden.count { XCTAssertEqual(hidden[i], bertHidden[i], accuracy: 1e-5) }
    }

    func testGradientsWithoutDropout() throws {
        try checkGradientsByFiniteDifferences(try Self.model(), mode: .inference) { e, g in
            let unused = e.name.hasPrefix("mint.") || e.name.hasPrefix("gnn.edge_encoder.") || e.name == "gnn.node_type.weight"
            if unused {
                XCTAssertFalse(g.contains { $0 != 0 }, "\(e.name) is unused at K = 0")
            } else if e.name.hasPrefix("gnn.") || e.name.hasPrefix("linkpred.") {
                XCTAssertTrue(g.contains { $0 != 0 }, "\(e.name) has no gradient")
            }
        }
    }
}
