import KELMModel
import KELMNumerics
import XCTest

/// The one parser of parameter names: groups (DESIGN §5), backward stages, knowledge-path tensors.
final class ParameterRoleTests: XCTestCase {
    func testRolesOfTheModelsNames() {
        let cases: [(String, ParameterGroup, BackwardStage, Int?, Bool)] = [
            ("lm.embeddings.word_embeddings.weight", .embeddings, .embeddings, nil, false),
            ("lm.embeddings.LayerNorm.weight", .embeddings, .embeddings, nil, false),
            ("lm.encoder.layer.3.attention.output.dense.weight", .attention, .lmLayer(3), 3, false),
            ("lm.encoder.layer.3.attention.self.query.bias", .attention, .lmLayer(3), 3, false),
            ("lm.encoder.layer.11.intermediate.dense.weight", .ffn, .lmLayer(11), 11, true),
            ("lm.encoder.layer.11.intermediate.dense.bias", .ffn, .lmLayer(11), 11, true),
            ("lm.encoder.layer.0.output.dense.weight", .ffn, .lmLayer(0), 0, true),
            ("lm.encoder.layer.0.output.dense.bias", .ffn, .lmLayer(0), 0, false),
            ("lm.encoder.layer.0.output.LayerNorm.weight", .ffn, .lmLayer(0), 0, false),
            ("gnn.final.h0.weight", .gnn, .graph, nil, false),
            ("mint.norm.bias", .mint, .graph, nil, false),
            ("mlm.bias", .heads, .heads, nil, false),
            ("linkpred.relation.weight", .heads, .heads, nil, false),
        ]
        for (name, group, stage, layer, onPath) in cases {
            let role = ParameterRole(name)
            XCTAssertEqual(role.group, group, name)
            XCTAssertEqual(role.stage, stage, name)
            XCTAssertEqual(role.lmLayer, layer, name)
            XCTAssertEqual(role.isOnKnowledgePath, onPath, name)
            XCTAssertEqual(role.isWordEmbeddings, name == "lm.embeddings.word_embeddings.weight", name)
            XCTAssertEqual(ParameterGroup.of(name), group)
            XCTAssertEqual(BackwardStage.of(name), stage)
        }
    }

    /// Every tensor of a real model has a role, and the routed ones are exactly three per layer.
    func testEveryTensorOfTheFusionModel() throws {
        let c = FusionConfig(bert: BertConfig(vocabSize: 50, hiddenSize: 8, numLayers: 3, numHeads: 2, ffnSize: 16),
                             fusionLayers: 1, gnnHidden: 8, gnnHeads: 2, mintHidden: nil, numRelations: 2, gnnDropout: 0)
        var table = ParameterTable()
        _ = try FusionModel.Parameters(&table, config: c)
        let roles = table.entries.map { ParameterRole($0.name) }
        XCTAssertEqual(roles.filter(\.isOnKnowledgePath).count, 3 * 3)
        XCTAssertEqual(Set(roles.compactMap(\.lmLayer)), [0, 1, 2])
        XCTAssertEqual(Set(roles.map(\.group)), Set(ParameterGroup.allCases))
        XCTAssertEqual(roles.filter(\.isWordEmbeddings).count, 1)
    }
}
