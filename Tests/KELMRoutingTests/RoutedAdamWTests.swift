import KELMModel
import KELMNumerics
import KELMRouting
import XCTest

final class RoutedAdamWTests: XCTestCase {
    /// One layer, d 2, d_ff 4, k 1. Neuron 0 is updated for 3 steps; then neuron 3, never
    /// selected before, takes its first step: the size of a fresh Adam's first step (lr·g/|g|),
    /// not an oversized one from the layer's step count; unselected slices and their moments
    /// stay bit-identical.
    func testLateNeuronTakesAFreshFirstStep() throws {
        let c = BertConfig(vocabSize: 10, hiddenSize: 2, numLayers: 1, numHeads: 1, ffnSize: 4, maxPositions: 4)
        var table = ParameterTable()
        let p = try BertLayer.Parameters(&table, layer: 0, config: c)
        let store = ParameterStore(table: table)
        store.initialize(seed: 1)
        let m = FlatBuffer(count: table.count), v = FlatBuffer(count: table.count)
        let paths = KnowledgePaths(layers: 1, ffnSize: 4, hidden: 2, fraction: 0.25, maxRows: 1)
        let opt = RoutedAdamW(layers: 1, ffnSize: 4)
        let tensors = [RoutedAdamW.LayerTensors(p)]
        func step(neuron: Int32, gradient: Float) {
            paths.setSelection([[neuron]], scores: [[0, 0, 0, 0]], step: 0)
            for i in 0..<paths.packed.count { paths.packed.pointer[i] = gradient }
            opt.update(paths: paths, tensors: tensors, params: store.values, expAvg: m, expAvgSq: v,
                       learningRates: [0.01], hyper: AdamHyperparameters(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0))
        }
        for _ in 0..<3 { step(neuron: 0, gradient: 0.5) }
        let before = store.values.toArray(), mBefore = m.toArray()
        step(neuron: 3, gradient: -0.2)
        let after = store.values.toArray()
        let row3 = p.interWeight.offset + 3 * 2
        for c in 0..<2 { XCTAssertEqual(after[row3 + c] - before[row3 + c], 0.01, accuracy: 1e-6, "first step of a fresh Adam: lr·sign") }
        XCTAssertEqual(after[p.interBias.offset + 3] - before[p.interBias.offset + 3], 0.01, accuracy: 1e-6)
        XCTAssertEqual(opt.neuronSteps.pointer[3], 1)
        XCTAssertEqual(opt.neuronSteps.pointer[0], 3)
        // neurons 1 and 2 were never selected: bit-identical, moments zero
        for j in [1, 2] {
            for c in 0..<2 {
                XCTAssertEqual(after[p.interWeight.offset + j * 2 + c].bitPattern, before[p.interWeight.offset + j * 2 + c].bitPattern)
                XCTAssertEqual(after[p.outWeight.offset + c * 4 + j].bitPattern, before[p.outWeight.offset + c * 4 + j].bitPattern)
            }
        }
        // neuron 0 was not selected in the last step: unchanged, its moments kept
        for c in 0..<2 {
            XCTAssertEqual(after[p.interWeight.offset + c], before[p.interWeight.offset + c])
            XCTAssertEqual(m.pointer[p.interWeight.offset + c], mBefore[p.interWeight.offset + c])
        }
    }
}
