import KELMModel
import KELMNumerics
import KELMRouting
import KELMTestSupport
import XCTest

final class KnowledgePathTests: XCTestCase {
    func testTopKTiesToTheLowerIndex() {
        XCTAssertEqual(KnowledgePaths.top(3, of: [0.5, 2, 2, -1, 2, 0.5]), [1, 2, 4])
        XCTAssertEqual(KnowledgePaths.top(2, of: [1, 1, 1, 1]), [0, 1])
        XCTAssertEqual(KnowledgePaths.top(2, of: [-3, 5, 4]), [1, 2])
        let p = KnowledgePaths(layers: 2, ffnSize: 12, hidden: 8, fraction: 0.1, maxRows: 4)
        XCTAssertEqual(p.perLayer, 2, "⌈0.1 · 12⌉")
    }

    static func setUp() throws -> (FusionModel, TokenBatch, GraphBatch, LinkBatch, FlatBuffer) {
        let model = try FusionTestData.model()
        try model.initializeParameters(seed: 5)
        var rng = TestRandom(seed: 6)
        for e in model.store.table.entries {
            let p = e.ref.pointer(in: model.store.values.pointer)
            for i in 0..<e.count { p[i] += rng.normal(0.2) }
        }
        return (model, FusionTestData.text(), try FusionTestData.graph(), try FusionTestData.links(), FusionTestData.memory())
    }

    /// Routed backward: the packed path gradients are exactly the selected slices of the dense
    /// gradient, and every other gradient (which flows through the whole FFN) is unchanged.
    func testPackedGradientsAreTheSelectedSlices() throws {
        let (model, text, graph, links, memory) = try Self.setUp()
        let c = model.config.bert, d = c.hiddenSize, ff = c.ffnSize
        let norm = LossNormalization(mlmCount: 3, lpCount: 3)
        _ = model.forward(text: text, graph: graph, links: links, memory: memory.pointer, mode: .inference)
        model.store.zeroGrads()
        model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: .all(model.store.grads.pointer))
        let dense = model.store.grads.toArray()

        let paths = KnowledgePaths(layers: c.numLayers, ffnSize: ff, hidden: d, fraction: 0.33, maxRows: 12)
        paths.setSelection([[1, 5, 7, 11], [0, 2, 3, 9], [4, 6, 8, 10]], scores: Array(repeating: Array(repeating: 0, count: ff), count: 3), step: 0)
        paths.attach(to: model.layers)
        model.store.zeroGrads()
        paths.packed.zero()
        model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: .all(model.store.grads.pointer))
        for layer in model.layers { layer.route = nil }
        let routed = model.store.grads.toArray()
        let k = paths.perLayer
        for l in 0..<c.numLayers {
            let p = model.parameters.lm.layers[l]
            let packed = paths.packed.pointer + l * paths.packedPerLayer
            for (i, j32) in paths.selection(l).enumerated() {
                let j = Int(j32)
                for col in 0..<d {
                    XCTAssertEqual(packed[i * d + col], dense[p.interWeight.offset + j * d + col], accuracy: 1e-6)
                    XCTAssertEqual(packed[k * d + k + col * k + i], dense[p.outWeight.offset + col * ff + j], accuracy: 1e-6)
                }
                XCTAssertEqual(packed[k * d + i], dense[p.interBias.offset + j], accuracy: 1e-6)
            }
            // routed tensors get nothing in the dense buffer
            for off in [p.interWeight, p.interBias, p.outWeight].flatMap({ $0.offset..<($0.offset + $0.count) }) {
                XCTAssertEqual(routed[off], 0)
            }
        }
        // everything else is identical
        let routedTensors = Set(model.parameters.lm.layers.flatMap { [$0.interWeight.offset, $0.interBias.offset, $0.outWeight.offset] })
        for e in model.store.table.entries where !routedTensors.contains(e.offset) {
            for i in e.offset..<(e.offset + e.count) { XCTAssertEqual(routed[i], dense[i], accuracy: 1e-6, e.name) }
        }
    }
}
