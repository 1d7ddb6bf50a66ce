import KELMNumerics

/// One rank's micro-batch: B segments of T tokens and the disjoint union of their graphs,
/// exactly the contents of DESIGN §9 (plus the sample indices and local counts). All storage
/// is allocated once and refilled in place by `BatchLoader.next()`.
///
/// Node ids are global within the batch. Segment b owns nodes `nodePointer[b] ..< nodePointer[b+1]`;
/// the first is its interaction node (entity −1, type 0), then its linked and source entities (type 1),
/// then the other retrieved nodes (type 2). Per segment the edges are, in this order: the KG
/// edges that survived link-prediction removal, each forward edge (relation r) followed by its
/// inverse (relation R + r); the interaction↔linked edges (interaction → linked 2R, linked →
/// interaction 2R + 1, per linked node); a self-loop (2R + 2) on every node, interaction node first.
///
/// The edge buffers start with room for 16·J edges per segment and are replaced by larger ones
/// (doubling) when a batch needs more; all other buffers never move. Only the first
/// `segmentCount` rows of the [B, T] buffers (and the first `nodeCount`, `edgeCount`,
/// `positiveCount` entries of the others) belong to the current batch; a partial last step
/// (`LoaderOptions.dropLast` false) leaves older contents after them.
public final class TrainingBatch {
    /// B: segments per micro-batch (capacity).
    public let capacitySegments: Int
    /// T: tokens per segment.
    public let tokensPerSegment: Int
    /// J: nodes per segment at most, interaction node included.
    public let maxNodesPerSegment: Int
    /// R: KG relations (edge types 0..<2R are KG edges).
    public let relationCount: Int

    /// Segments in this batch (B, fewer only in a partial last step).
    public internal(set) var segmentCount = 0
    /// [B] the global sample index (segment index in the split) of each segment.
    public let sampleIndices: AlignedBuffer<Int64>

    /// [B, T] token ids after masking (`[PAD]` after the segment's tokens).
    public let inputIDs: IndexBuffer
    /// [B, T] 1 for a real token, 0 for padding.
    public let attentionMask: IndexBuffer
    /// [B, T] original id at masked positions, −100 elsewhere.
    public let mlmLabels: IndexBuffer
    /// [B, T] 1 inside entity mentions.
    public let mentionMask: IndexBuffer
    /// Masked tokens in this batch.
    public internal(set) var maskedTokenCount = 0

    /// [B + 1] node ranges of the segments.
    public let nodePointer: IndexBuffer
    /// [nodes] entity id of each node (row of the entity-context memory), −1 for interaction nodes
    /// and for source nodes (x⁰ = 0).
    public let nodeEntity: IndexBuffer
    /// [nodes] 0 interaction, 1 linked or source, 2 other.
    public let nodeType: IndexBuffer
    /// [nodes] the entity of a source node (x⁰ = 0, its `nodeEntity` is −1), −1 elsewhere.
    public let nodeSourceEntity: IndexBuffer
    /// Nodes in this batch.
    public internal(set) var nodeCount = 0

    /// [edges] source node of each edge (row 0 of `edge_index`).
    public internal(set) var edgeSource: IndexBuffer
    /// [edges] target node of each edge (row 1 of `edge_index`).
    public internal(set) var edgeTarget: IndexBuffer
    /// [edges] relation id 0..2R+2 of each edge.
    public internal(set) var edgeType: IndexBuffer
    /// Edges in this batch.
    public internal(set) var edgeCount = 0

    /// [P, 3] positive triples (head node, relation, tail node).
    public let positives: IndexBuffer
    /// [P, 32] replacement heads of each positive.
    public let negativeHeads: IndexBuffer
    /// [P, 32] replacement tails of each positive.
    public let negativeTails: IndexBuffer
    /// [B + 1] positive ranges of the segments.
    public let positivePointer: IndexBuffer
    /// Positives in this batch (P).
    public internal(set) var positiveCount = 0

    /// Allocates a batch for `segments` segments of `tokens` tokens and graphs of at most
    /// `maxNodes` nodes with `relationCount` KG relations.
    public init(segments: Int, tokens: Int, maxNodes: Int, relationCount: Int) {
        precondition(segments >= 1 && tokens >= 2 && maxNodes >= 1, "TrainingBatch: sizes must be positive")
        capacitySegments = segments
        tokensPerSegment = tokens
        maxNodesPerSegment = maxNodes
        self.relationCount = relationCount
        sampleIndices = AlignedBuffer<Int64>(count: segments)
        inputIDs = IndexBuffer(count: segments * tokens)
        attentionMask = IndexBuffer(count: segments * tokens)
        mlmLabels = IndexBuffer(count: segments * tokens)
        mentionMask = IndexBuffer(count: segments * tokens)
        nodePointer = IndexBuffer(count: segments + 1)
        nodeEntity = IndexBuffer(count: segments * maxNodes)
        nodeType = IndexBuffer(count: segments * maxNodes)
        nodeSourceEntity = IndexBuffer(count: segments * maxNodes)
        let edges = segments * maxNodes * 16
        edgeSource = IndexBuffer(count: edges)
        edgeTarget = IndexBuffer(count: edges)
        edgeType = IndexBuffer(count: edges)
        let positives = segments * LinkPredictionSampling.maxPositives
        self.positives = IndexBuffer(count: positives * 3)
        negativeHeads = IndexBuffer(count: positives * LinkPredictionSampling.negativesPerSide)
        negativeTails = IndexBuffer(count: positives * LinkPredictionSampling.negativesPerSide)
        positivePointer = IndexBuffer(count: segments + 1)
    }

    /// Edge type of interaction → linked edges (2R).
    public var interactionToLinked: Int32 { Int32(2 * relationCount) }
    /// Edge type of linked → interaction edges (2R + 1).
    public var linkedToInteraction: Int32 { Int32(2 * relationCount + 1) }
    /// Edge type of self-loops (2R + 2).
    public var selfLoop: Int32 { Int32(2 * relationCount + 2) }

    /// Makes room for at least `count` edges, keeping the first `edgeCount`.
    func reserveEdges(_ count: Int) {
        guard count > edgeSource.count else { return }
        var capacity = edgeSource.count
        while capacity < count { capacity *= 2 }
        func grown(_ old: IndexBuffer) -> IndexBuffer {
            let new = IndexBuffer(count: capacity)
            new.pointer.update(from: old.pointer, count: edgeCount)
            return new
        }
        edgeSource = grown(edgeSource)
        edgeTarget = grown(edgeTarget)
        edgeType = grown(edgeType)
    }

    /// `edge_index` [2, E] as one array (row 0 sources, row 1 targets), for dumps and tests.
    public func edgeIndex() -> [Int32] {
        Array(UnsafeBufferPointer(start: edgeSource.pointer, count: edgeCount))
            + Array(UnsafeBufferPointer(start: edgeTarget.pointer, count: edgeCount))
    }

    /// A value copy of the batch's contents, for tests and comparisons (not for the hot path).
    public func snapshot() -> TrainingBatchContents {
        func rows(_ buffer: IndexBuffer, _ count: Int) -> [Int32] { Array(UnsafeBufferPointer(start: buffer.pointer, count: count)) }
        let tokens = segmentCount * tokensPerSegment
        return TrainingBatchContents(
            sampleIndices: Array(UnsafeBufferPointer(start: sampleIndices.pointer, count: segmentCount)),
            inputIDs: rows(inputIDs, tokens), attentionMask: rows(attentionMask, tokens),
            mlmLabels: rows(mlmLabels, tokens), mentionMask: rows(mentionMask, tokens),
            nodePointer: rows(nodePointer, segmentCount + 1), nodeEntity: rows(nodeEntity, nodeCount),
            nodeType: rows(nodeType, nodeCount), nodeSourceEntity: rows(nodeSourceEntity, nodeCount),
            edgeSource: rows(edgeSource, edgeCount),
            edgeTarget: rows(edgeTarget, edgeCount), edgeType: rows(edgeType, edgeCount),
            positives: rows(positives, 3 * positiveCount),
            negativeHeads: rows(negativeHeads, LinkPredictionSampling.negativesPerSide * positiveCount),
            negativeTails: rows(negativeTails, LinkPredictionSampling.negativesPerSide * positiveCount),
            positivePointer: rows(positivePointer, segmentCount + 1),
            maskedTokenCount: maskedTokenCount, positiveCount: positiveCount)
    }
}

/// The contents of a `TrainingBatch` as plain arrays (same meanings and layouts).
public struct TrainingBatchContents: Equatable, Sendable {
    public var sampleIndices: [Int64]
    public var inputIDs: [Int32]
    public var attentionMask: [Int32]
    public var mlmLabels: [Int32]
    public var mentionMask: [Int32]
    public var nodePointer: [Int32]
    public var nodeEntity: [Int32]
    public var nodeType: [Int32]
    public var nodeSourceEntity: [Int32]
    public var edgeSource: [Int32]
    public var edgeTarget: [Int32]
    public var edgeType: [Int32]
    public var positives: [Int32]
    public var negativeHeads: [Int32]
    public var negativeTails: [Int32]
    public var positivePointer: [Int32]
    public var maskedTokenCount: Int
    public var positiveCount: Int

    /// The contents of segment `b` alone, its node ids made local (interaction node 0), as a
    /// batch of one would hold them.
    public func segment(_ b: Int, tokens: Int) -> TrainingBatchContents {
        let nodeBase = nodePointer[b], nodeEnd = nodePointer[b + 1]
        let positiveRange = Int(positivePointer[b])..<Int(positivePointer[b + 1])
        var edges: [Int] = []
        for e in edgeSource.indices where edgeSource[e] >= nodeBase && edgeSource[e] < nodeEnd { edges.append(e) }
        let side = LinkPredictionSampling.negativesPerSide
        let local = { (node: Int32) in node - nodeBase }
        var positivesLocal: [Int32] = []
        for p in positiveRange {
            positivesLocal += [local(positives[3 * p]), positives[3 * p + 1], local(positives[3 * p + 2])]
        }
        let tokenRange = (b * tokens)..<((b + 1) * tokens)
        return TrainingBatchContents(
            sampleIndices: [sampleIndices[b]], inputIDs: Array(inputIDs[tokenRange]),
            attentionMask: Array(attentionMask[tokenRange]), mlmLabels: Array(mlmLabels[tokenRange]),
            mentionMask: Array(mentionMask[tokenRange]), nodePointer: [0, nodeEnd - nodeBase],
            nodeEntity: Array(nodeEntity[Int(nodeBase)..<Int(nodeEnd)]), nodeType: Array(nodeType[Int(nodeBase)..<Int(nodeEnd)]),
            nodeSourceEntity: Array(nodeSourceEntity[Int(nodeBase)..<Int(nodeEnd)]),
            edgeSource: edges.map { local(edgeSource[$0]) }, edgeTarget: edges.map { local(edgeTarget[$0]) },
            edgeType: edges.map { edgeType[$0] }, positives: positivesLocal,
            negativeHeads: positiveRange.flatMap { p in negativeHeads[(p * side)..<((p + 1) * side)].map(local) },
            negativeTails: positiveRange.flatMap { p in negativeTails[(p * side)..<((p + 1) * side)].map(local) },
            positivePointer: [0, Int32(positiveRange.count)],
            maskedTokenCount: mlmLabels[tokenRange].filter { $0 != WholeWordMasking.ignoredLabel }.count,
            positiveCount: positiveRange.count)
    }
}
