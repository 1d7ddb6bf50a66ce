import KELMModel
import KELMNumerics

/// A tiny fusion model and one hand-made batch: 2 segments, their subgraphs, 3 link positives.
public enum FusionTestData {
    public static let config = FusionConfig(
        bert: BertConfig(vocabSize: 23, hiddenSize: 8, numLayers: 3, numHeads: 2, ffnSize: 12, maxPositions: 10,
                         hiddenDropout: 0.1, attentionDropout: 0.1),
        fusionLayers: 2, gnnHidden: 8, gnnHeads: 2, mintHidden: 6, numRelations: 2, gnnDropout: 0.2)
    public static let entities = 5

    public static func text() -> TokenBatch {
        let batch = TokenBatch(capacityBatch: 2, capacityTokens: 6)
        let ids: [Int32] = [2, 7, 9, 4, 11, 3,  2, 5, 19, 3, 0, 0]
        let mask: [Int32] = [1, 1, 1, 1, 1, 1,  1, 1, 1, 1, 0, 0]
        for i in 0..<12 {
            batch.inputIds.pointer[i] = ids[i]
            batch.attentionMask.pointer[i] = mask[i]
            batch.labels.pointer[i] = -100
        }
        batch.labels.pointer[2] = 13
        batch.labels.pointer[4] = 6
        batch.labels.pointer[7] = 21
        batch.sampleIndices[0] = 100
        batch.sampleIndices[1] = 101
        return batch
    }

    public static func graph() throws -> GraphBatch {
        let g = GraphBatch(capacityGraphs: 2, capacityNodes: 10, capacityEdges: 40)
        // segment 0: interaction 0, linked 1 (entity 3), linked 2 (entity 1), other 3 (entity 4)
        // segment 1: interaction 4, linked 5 (entity 0), other 6 (entity 2)
        let entity: [Int32] = [-1, 3, 1, 4, -1, 0, 2]
        let type: [Int32] = [0, 1, 1, 2, 0, 1, 2]
        let R: Int32 = 2
        var edges: [(Int32, Int32, Int32)] = []
        for v in 0..<7 { edges.append((Int32(v), Int32(v), 2 * R + 2)) }
        for (i, l) in [(0, 1), (0, 2), (4, 5)] as [(Int32, Int32)] {
            edges.append((i, l, 2 * R)); edges.append((l, i, 2 * R + 1))
        }
        for (s, r, t) in [(1, 0, 2), (3, 1, 1), (5, 0, 6), (2, 1, 3)] as [(Int32, Int32, Int32)] {
            edges.append((s, t, r)); edges.append((t, s, r + R))
        }
        try g.reshape(graphs: 2, nodes: 7, edges: edges.count)
        for (i, v) in [0, 4, 7].enumerated() { g.nodePtr.pointer[i] = Int32(v) }
        for v in 0..<7 { g.nodeEntity.pointer[v] = entity[v]; g.nodeType.pointer[v] = type[v] }
        for (e, edge) in edges.enumerated() {
            g.edgeSource.pointer[e] = edge.0; g.edgeTarget.pointer[e] = edge.1; g.edgeRelation.pointer[e] = edge.2
        }
        try g.finalize(numRelations: Int(R), entityCount: entities)
        return g
    }

    public static func links() throws -> LinkBatch {
        let l = LinkBatch(capacity: 4)
        try l.reshape(count: 3)
        let positives: [Int32] = [1, 0, 2,  3, 1, 1,  5, 0, 6]
        for i in 0..<9 { l.positives.pointer[i] = positives[i] }
        var rng = RandomStream(RandomKey(seed: 4, purpose: .test))
        let pools: [[Int32]] = [[1, 2, 3], [1, 2, 3], [5, 6]]
        for p in 0..<3 {
            for k in 0..<LinkBatch.negativesPerSide {
                l.negativeHeads.pointer[p * 32 + k] = pools[p][rng.nextInt(below: pools[p].count)]
                l.negativeTails.pointer[p * 32 + k] = pools[p][rng.nextInt(below: pools[p].count)]
            }
        }
        return l
    }

    public static func memory(seed: UInt64 = 8) -> FlatBuffer {
        var rng = TestRandom(seed: seed)
        return rng.buffer(entities * config.bert.hiddenSize)
    }

    public static func model(logits: LogitPositions = .masked) throws -> FusionModel {
        try FusionModel(config: config, maxBatch: 2, maxTokens: 6, maxNodes: 10, maxEdges: 40, maxPositives: 4, logits: logits)
    }
}
