import KELMBatches
import KELMConfig
import KELMModel
import XCTest
@testable import KELMTraining

final class ModelArchitectureTests: XCTestCase {
    func testDefaultsAreTheMiniLMShape() {
        var expected = BertConfig.miniLM
        expected.hiddenDropout = 0.1
        expected.attentionDropout = 0.1
        XCTAssertEqual(KELMConfig().model.bertConfig, expected)
    }

    func testKeysMapToTheArchitecture() throws {
        let config = try ConfigLoader.load(overrides: ["model.hidden_size=32", "model.num_heads=4", "model.num_layers=2",
                                                      "model.ffn_size=64", "model.vocab_size=99", "model.dropout=0",
                                                      "model.fusion_layers=1", "model.layer_norm_eps=1e-6"])
        let b = config.model.bertConfig
        XCTAssertEqual([b.hiddenSize, b.numHeads, b.numLayers, b.ffnSize, b.vocabSize], [32, 4, 2, 64, 99])
        XCTAssertEqual(b.hiddenDropout, 0)
        XCTAssertEqual(b.layerNormEps, 1e-6)
        // the tiny config builds a model
        _ = try BertMaskedLM(config: b, maxBatch: 2, maxTokens: 8)
    }
}
