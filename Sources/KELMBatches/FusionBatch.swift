import KELMModel
import KELMNumerics

/// One micro-batch for the fusion model: text, the disjoint union of subgraphs, link-prediction
/// examples and the mention mask, preallocated and refilled in place. Samples are appended one
/// by one (`beginBatch`, `appendSegment`…, `finishBatch`).
public final class FusionBatch {
    public let text: TokenBatch
    public let graph: GraphBatch
    public let links: LinkBatch
    /// [B, T] 1 inside entity mentions.
    public let mentionMask: IndexBuffer
    public let capacityNodesPerSegment: Int, capacityEdgesPerSegment: Int
    private var segments = 0, nodes = 0, edges = 0, positives = 0
    private var tokens = 0

    public init(batch: Int, tokens: Int, nodesPerSegment: Int, edgesPerSegment: Int, positivesPerSegment: Int = 100) {
        text = TokenBatch(capacityBatch: batch, capacityTokens: tokens)
        graph = GraphBatch(capacityGraphs: batch, capacityNodes: batch * nodesPerSegment, capacityEdges: batch * edgesPerSegment)
        links = LinkBatch(capacity: batch * positivesPerSegment)
        mentionMask = IndexBuffer(count: batch * tokens)
        capacityNodesPerSegment = nodesPerSegment
        capacityEdgesPerSegment = edgesPerSegment
    }

    /// Masked positions in this micro-batch (the MLM count before the all-reduce).
    public var maskedCount: Int { text.labelCount }
    /// Link-prediction positives in this micro-batch.
    public var positiveCount: Int { links.count }

    public func beginBatch(tokens: Int) {
        segments = 0; nodes = 0; edges = 0; positives = 0
        self.tokens = tokens
        graph.nodePtr.pointer[0] = 0
    }

    /// Appends one segment. Node ids in `edges`, `positives` and the negatives are local to
    /// the segment (0 = its interaction node); they become batch-global here.
    public func appendSegment(sampleIndex: UInt64, inputIds: [Int32], attentionMask: [Int32], labels: [Int32],
                              mentionMask: [Int32], nodeEntities: [Int32], nodeTypes: [Int32],
                              edges segmentEdges: [(source: Int32, target: Int32, relation: Int32)],
                              positives segmentPositives: [(head: Int32, relation: Int32, tail: Int32)],
                              negativeHeads: [Int32], negativeTails: [Int32]) throws {
        let T = tokens, b = segments, K = LinkBatch.negativesPerSide
        guard b < text.capacityBatch else { throw ModelError.capacityExceeded("more than \(text.capacityBatch) segments") }
        guard inputIds.count == T, attentionMask.count == T, labels.count == T, mentionMask.count == T else {
            throw ModelError.capacityExceeded("segment of \(inputIds.count) tokens, the batch has \(T)")
        }
        guard nodes + nodeEntities.count <= graph.capacityNodes, edges + segmentEdges.count <= graph.capacityEdges,
              positives + segmentPositives.count <= links.capacity else {
            throw ModelError.capacityExceeded("segment \(sampleIndex): \(nodeEntities.count) nodes, \(segmentEdges.count) edges, \(segmentPositives.count) positives")
        }
        for t in 0..<T {
            text.inputIds.pointer[b * T + t] = inputIds[t]
            text.attentionMask.pointer[b * T + t] = attentionMask[t]
            text.labels.pointer[b * T + t] = labels[t]
            self.mentionMask.pointer[b * T + t] = mentionMask[t]
        }
        text.sampleIndices[b] = sampleIndex
        let base = Int32(nodes)
        for (i, e) in nodeEntities.enumerated() {
            graph.nodeEntity.pointer[nodes + i] = e
            graph.nodeType.pointer[nodes + i] = nodeTypes[i]
            graph.nodeSourceEntity.pointer[nodes + i] = -1
        }
        for (i, e) in segmentEdges.enumerated() {
            graph.edgeSource.pointer[edges + i] = base + e.source
            graph.edgeTarget.pointer[edges + i] = base + e.target
            graph.edgeRelation.pointer[edges + i] = e.relation
        }
        for (i, p) in segmentPositives.enumerated() {
            let j = positives + i
            links.positives.pointer[3 * j] = base + p.head
            links.positives.pointer[3 * j + 1] = p.relation
            links.positives.pointer[3 * j + 2] = base + p.tail
            for k in 0..<K {
                links.negativeHeads.pointer[j * K + k] = base + negativeHeads[i * K + k]
                links.negativeTails.pointer[j * K + k] = base + negativeTails[i * K + k]
            }
        }
        nodes += nodeEntities.count
        edges += segmentEdges.count
        positives += segmentPositives.count
        segments += 1
        graph.nodePtr.pointer[segments] = Int32(nodes)
    }

    /// Sets the sizes and checks the graph.
    public func finishBatch(numRelations: Int, entityCount: Int) throws {
        text.reshape(batch: segments, tokens: tokens)
        try graph.reshape(graphs: segments, nodes: nodes, edges: edges)
        try graph.finalize(numRelations: numRelations, entityCount: entityCount)
        try links.reshape(count: positives)
    }
}
