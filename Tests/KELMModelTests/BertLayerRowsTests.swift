import KELMModel
import KELMNumerics
import XCTest

/// `BertLayer.forwardRows` (the entity memory's top LM1 layer at (s, o) only) equals `forward`
/// at the chosen rows, whatever rows are chosen (repeats, padding-adjacent, several per segment).
final class BertLayerRowsTests: XCTestCase {
    func testChosenRowsEqualTheFullForward() throws {
        let c = BertConfig(vocabSize: 30, hiddenSize: 16, numLayers: 1, numHeads: 4, ffnSize: 24, maxPositions: 12,
                           hiddenDropout: 0, attentionDropout: 0)
        var table = ParameterTable()
        let p = try BertMaskedLM.Parameters(&table, config: c)
        let store = ParameterStore(table: table)
        store.initialize(seed: 21)
        let B = 3, T = 7, d = 16
        let batch = TokenBatch(capacityBatch: B, capacityTokens: T)
        let lengths = [7, 4, 2]
        for b in 0..<B { for t in 0..<T { batch.attentionMask.pointer[b * T + t] = t < lengths[b] ? 1 : 0 } }
        var random = RandomStream(RandomKey(seed: 4, purpose: .test))
        let x = FlatBuffer(count: B * T * d)
        for i in 0..<x.count { x.pointer[i] = random.nextNormal() }
        let full = BertLayer(p.layers[0], index: 0, config: c, maxBatch: B, maxTokens: T)
        full.forward(x: x.pointer, batch: batch, params: store.values.pointer, mode: .inference)
        let rows: [Int32] = [0, 6, 3, 7, 10, 14, 15, 15, 1]
        let segments = rows.map { $0 / Int32(T) }
        let chosen = BertLayer(p.layers[0], index: 0, config: c, maxBatch: B, maxTokens: T, maxRows: B * T)
        rows.withUnsafeBufferPointer { r in
            segments.withUnsafeBufferPointer { s in
                chosen.forwardRows(r, segments: s, x: x.pointer, batch: batch, params: store.values.pointer)
            }
        }
        for (i, row) in rows.enumerated() {
            for j in 0..<d {
                XCTAssertEqual(chosen.output.pointer[i * d + j], full.output.pointer[Int(row) * d + j], accuracy: 1e-5, "row \(row), column \(j)")
            }
        }
    }
}
