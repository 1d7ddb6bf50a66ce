import Foundation
import KELMCheckpoint
import KELMHDF5
import KELMModel
import KELMNumerics
import KELMTestSupport
import XCTest

/// The fusion model against the PyTorch reference (Tests/Fixtures/fusion_reference.py), which
/// wrote fusion_tiny.h5 in the debug-dump format of DESIGN §9: both losses and every gradient.
final class FusionReferenceTests: XCTestCase {
    func testMatchesPyTorchReference() throws {
        let file = try HDF5File.open(ReferenceFixture.path("fusion_tiny.h5"))
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try file.stringAttribute("config").utf8)) as? [String: Any])
        let m = try XCTUnwrap(json["model"] as? [String: Any]), t = try XCTUnwrap(json["train"] as? [String: Any])
        func int(_ k: String) throws -> Int { try XCTUnwrap(m[k] as? Int, k) }
        func num(_ d: [String: Any], _ k: String) throws -> Double { try XCTUnwrap((d[k] as? Double) ?? (d[k] as? Int).map(Double.init), k) }
        let relationShape = try file.withDataset("/params/linkpred/relation/weight") { try $0.shape() }
        let mintShape = try file.withDataset("/params/mint/0/weight") { try $0.shape() }
        let bert = BertConfig(vocabSize: try int("vocab_size"), hiddenSize: try int("hidden_size"), numLayers: try int("num_layers"),
                              numHeads: try int("num_heads"), ffnSize: try int("ffn_size"), maxPositions: try int("max_positions"),
                              typeVocabSize: try int("type_vocab_size"), padTokenId: try int("pad_token_id"),
                              layerNormEps: Float(try num(m, "layer_norm_eps")), hiddenDropout: 0, attentionDropout: 0)
        let config = FusionConfig(bert: bert, fusionLayers: try int("fusion_layers"), gnnHidden: try int("gnn_hidden"),
                                  gnnHeads: try int("gnn_heads"), mintHidden: mintShape[0], numRelations: relationShape[0],
                                  gnnDropout: 0)
        let B = try file.intAttribute("B"), T = try file.intAttribute("T")
        func ints(_ p: String) throws -> [Int32] { try file.withDataset(p) { try $0.readInt32s() } }
        let entity = try ints("/graph/node_entity"), type = try ints("/graph/node_type"), ptr = try ints("/graph/node_ptr")
        XCTAssertEqual(try file.intAttribute("format_version"), BatchDump.formatVersion)
        let source = try ints("/graph/node_source_entity")
        XCTAssertTrue(source.contains { $0 >= 0 }, "the fixture has source nodes (x⁰ = 0)")
        let edgeIndex = try ints("/graph/edge_index"), edgeType = try ints("/graph/edge_type")
        let pos = try ints("/linkpred/pos"), negHead = try ints("/linkpred/neg_head"), negTail = try ints("/linkpred/neg_tail")
        let N = entity.count, E = edgeType.count, P = pos.count / 3
        let memoryShape = try file.withDataset("/memory/entity_context") { try $0.shape() }
        let memory = try file.withDataset("/memory/entity_context") { try $0.readFloats() }

        let model = try FusionModel(config: config, maxBatch: B, maxTokens: T, maxNodes: N, maxEdges: E, maxPositives: P)
        for e in model.store.table.entries {
            try file.withDataset(BatchDump.tensorPath("params", e.name)) { ds in
                XCTAssertEqual(try ds.shape(), e.shape, e.name)
                try ds.read(into: UnsafeMutableBufferPointer(start: e.ref.pointer(in: model.store.values.pointer), count: e.count))
            }
        }
        let text = TokenBatch(capacityBatch: B, capacityTokens: T)
        for (i, (a, b)) in zip(try ints("/tokens/input_ids"), try ints("/tokens/attention_mask")).enumerated() {
            text.inputIds.pointer[i] = a
            text.attentionMask.pointer[i] = b
        }
        for (i, l) in try ints("/tokens/mlm_labels").enumerated() { text.labels.pointer[i] = l }
        let graph = GraphBatch(capacityGraphs: B, capacityNodes: N, capacityEdges: E)
        try graph.reshape(graphs: B, nodes: N, edges: E)
        for (i, v) in ptr.enumerated() { graph.nodePtr.pointer[i] = v }
        for v in 0..<N {
            graph.nodeEntity.pointer[v] = entity[v]
            graph.nodeType.pointer[v] = type[v]
            graph.nodeSourceEntity.pointer[v] = source[v]
        }
        for e in 0..<E {
            graph.edgeSource.pointer[e] = edgeIndex[e]
            graph.edgeTarget.pointer[e] = edgeIndex[E + e]
            graph.edgeRelation.pointer[e] = edgeType[e]
        }
        try graph.finalize(numRelations: config.numRelations, entityCount: memoryShape[0])
        let links = LinkBatch(capacity: P)
        try links.reshape(count: P)
        for i in 0..<(3 * P) { links.positives.pointer[i] = pos[i] }
        for i in 0..<(32 * P) { links.negativeHeads.pointer[i] = negHead[i]; links.negativeTails.pointer[i] = negTail[i] }

        let out = memory.withUnsafeBufferPointer {
            model.forward(text: text, graph: graph, links: links, memory: $0.baseAddress!, mode: .inference)
        }
        let norm = LossNormalization(mlmCount: try file.intAttribute("mlm_count"), lpCount: try file.intAttribute("lp_count"),
                                     mlmWeight: Float(try num(t, "mlm_weight")), lpWeight: Float(try num(t, "lp_weight")))
        XCTAssertEqual(out.mlmCount, norm.mlmCount)
        XCTAssertEqual(out.lpCount, norm.lpCount)
        XCTAssertEqual(norm.mlmLoss(out.mlmLossSum), try file.doubleAttribute("mlm_loss"), accuracy: 1e-5)
        XCTAssertEqual(norm.lpLoss(out.lpLossSum), try file.doubleAttribute("lp_loss"), accuracy: 1e-5)
        XCTAssertEqual(norm.total(mlmSum: out.mlmLossSum, lpSum: out.lpLossSum), try file.doubleAttribute("loss"), accuracy: 1e-5)
        model.store.zeroGrads()
        model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: .all(model.store.grads.pointer))
        var cmp = TensorComparison(absoluteTolerance: 1e-6, relativeTolerance: 5e-5)
        for e in model.store.table.entries {
            cmp.compare(e.name, ours: e.ref.pointer(in: model.store.grads.pointer),
                        reference: try file.withDataset(BatchDump.tensorPath("grads", e.name)) { try $0.readFloats() })
        }
        try file.close()
        XCTAssertTrue(cmp.passed, cmp.description)
        print("fusion gradients vs PyTorch: \(cmp)")
    }
}
