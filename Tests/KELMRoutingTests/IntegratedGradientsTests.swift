import KELMModel
import KELMNumerics
import KELMRouting
import KELMTestSupport
import XCTest

/// Completeness of integrated gradients: Σ scores → P(v) − P(0) as the number of steps m grows.
final class IntegratedGradientsTests: XCTestCase {
    func completenessError(mode: IntegratedGradients.Mode, steps: Int, layer: Int?) throws -> (error: Double, gap: Double) {
        let (model, text, graph, links, memory) = try KnowledgePathTests.setUp()
        let ig = IntegratedGradients(model: model)
        let scores = ig.attribute(text: text, graph: graph, links: links, memory: memory.pointer, samples: 2,
                                  globalCount: 3, steps: steps, mode: mode)
        let L = model.config.bert.numLayers, ff = model.config.bert.ffnSize
        let layers = layer.map { [$0] } ?? Array(0..<L)
        var total = 0.0
        for b in 0..<2 { for l in layers { for j in 0..<ff { total += scores[(b * L + l) * ff + j] } } }
        let full = ig.objective(text: text, graph: graph, links: links, memory: memory.pointer, globalCount: 3, overridden: layers, alpha: 1)
        let zero = ig.objective(text: text, graph: graph, links: links, memory: memory.pointer, globalCount: 3, overridden: layers, alpha: 0)
        return (abs(total - (full - zero)), abs(full - zero))
    }

    func testJointModeCompleteness() throws {
        let coarse = try completenessError(mode: .joint, steps: 4, layer: nil)
        let fine = try completenessError(mode: .joint, steps: 64, layer: nil)
        XCTAssertGreaterThan(coarse.gap, 1e-3, "the activations matter to P")
        XCTAssertLessThan(fine.error, coarse.error)
        XCTAssertLessThan(fine.error, 0.02 * fine.gap)
    }

    func testPerLayerModeCompleteness() throws {
        // per layer: layer 1's scores sum to P with layer 1 at v minus P with layer 1 at 0
        let coarse = try completenessError(mode: .perLayer, steps: 4, layer: 1)
        let fine = try completenessError(mode: .perLayer, steps: 64, layer: 1)
        XCTAssertLessThan(fine.error, coarse.error)
        XCTAssertLessThan(fine.error, 0.02 * fine.gap)
    }
}
