import KELMModel
import KELMNumerics
import KELMRouting
import XCTest

/// What the path selector routes, and how it points the FFNs' backward at the paths.
final class PathSelectorTests: XCTestCase {
    func model() throws -> FusionModel {
        let c = FusionConfig(bert: BertConfig(vocabSize: 50, hiddenSize: 8, numLayers: 2, numHeads: 2, ffnSize: 16),
                             fusionLayers: 1, gnnHidden: 8, gnnHeads: 2, numRelations: 2)
        return try FusionModel(config: c, maxBatch: 2, maxTokens: 6, maxNodes: 8, maxEdges: 16, maxPositives: 4)
    }

    func testRoutesTheThreeFFNTensorsOfEveryLayer() throws {
        let m = try model()
        let routed = m.store.table.entries.map(\.name).filter(PathSelector.isRouted)
        XCTAssertEqual(routed.sorted(), ["lm.encoder.layer.0.intermediate.dense.bias", "lm.encoder.layer.0.intermediate.dense.weight",
                                         "lm.encoder.layer.0.output.dense.weight", "lm.encoder.layer.1.intermediate.dense.bias",
                                         "lm.encoder.layer.1.intermediate.dense.weight", "lm.encoder.layer.1.output.dense.weight"])
    }

    func testAttachPointsTheBackwardAtThePathsAndBack() throws {
        let m = try model()
        let s = PathSelector(model: m, fraction: 0.25, maxRows: 12, samples: 2, igSteps: 2, mode: .joint, collective: SingleProcess())
        XCTAssertEqual(s.paths.perLayer, 4)
        XCTAssertEqual(s.tensors.count, 2)
        XCTAssertTrue(m.layers.allSatisfy { $0.route == nil })
        s.attach(true, to: m.layers)
        XCTAssertTrue(s.attached)
        XCTAssertTrue(m.layers.allSatisfy { $0.route != nil })
        s.attach(false, to: m.layers)
        XCTAssertFalse(s.attached)
        XCTAssertTrue(m.layers.allSatisfy { $0.route == nil })
    }
}
