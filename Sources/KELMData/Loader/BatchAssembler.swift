import KELMNumerics

/// One tokenised segment as stored in the dataset file.
public struct SegmentRecord: Equatable, Sendable {
    /// `[CLS] text₁ [SEP] text₂ [SEP] …` token ids (at most T).
    public var tokens: [Int32]
    /// 1 where a word starts (special tokens included), 0 on `##` continuations.
    public var wordStarts: [Int32]
    /// Mentions as flat (token start, token end exclusive, entity) triples, in text order.
    public var mentions: [Int32]
    /// The distinct entities its texts describe, in text order (possibly none).
    public var sourceEntities: [Int32]

    public init(tokens: [Int32], wordStarts: [Int32], mentions: [Int32], sourceEntities: [Int32]) {
        self.tokens = tokens
        self.wordStarts = wordStarts
        self.mentions = mentions
        self.sourceEntities = sourceEntities
    }

    /// The mentioned entities in text order (repeats included).
    public var mentionedEntities: [Int32] {
        stride(from: 2, to: mentions.count, by: 3).map { mentions[$0] }
    }
}

/// Fills the slots of a `TrainingBatch` from segment records: padding, whole-word masking,
/// subgraph retrieval, link-prediction sampling and the GNN input edges (DESIGN §3, §6, §9).
/// Everything random is drawn from streams keyed by (seed, epoch, sample index, purpose).
public final class BatchAssembler {
    /// Run seed.
    public let seed: UInt64
    /// The token ids the assembly needs.
    public let specialTokens: SpecialTokenIDs
    /// The masking rule.
    public let masking: WholeWordMasking

    private var retriever: SubgraphRetriever
    /// The training graph: negatives that form one of its triples are drawn again.
    private let graph: Adjacency
    private var subgraph = Subgraph()
    private var words: [(start: Int32, length: Int32)] = []
    private var candidateOrder: [Int32] = []
    private var removedPairs: [Bool]

    /// An assembler over the training graph `graph` for subgraphs of at most `maxNodes` nodes.
    public init(graph: Adjacency, maxNodes: Int, vocabularySize: Int, specialTokens: SpecialTokenIDs, seed: UInt64) {
        self.seed = seed
        self.specialTokens = specialTokens
        masking = WholeWordMasking(maskToken: specialTokens.mask, vocabularySize: vocabularySize,
                                   specialTokens: specialTokens.all)
        retriever = SubgraphRetriever(graph: graph, maxNodes: maxNodes, seed: seed)
        self.graph = graph
        removedPairs = Array(repeating: false, count: maxNodes * maxNodes)
    }

    /// Empties `batch` before its slots are filled in order.
    public func begin(_ batch: TrainingBatch) {
        batch.segmentCount = 0
        batch.maskedTokenCount = 0
        batch.nodeCount = 0
        batch.edgeCount = 0
        batch.positiveCount = 0
        batch.nodePointer.pointer[0] = 0
        batch.positivePointer.pointer[0] = 0
    }

    /// Appends segment `record` (global sample index `sample`, epoch `epoch`) as the next slot.
    public func append(_ record: SegmentRecord, sample: Int, epoch: Int, to batch: TrainingBatch) {
        let b = batch.segmentCount
        precondition(b < batch.capacitySegments, "BatchAssembler: the batch is full")
        precondition(record.tokens.count <= batch.tokensPerSegment,
                     "BatchAssembler: segment \(sample) has \(record.tokens.count) tokens, more than T = \(batch.tokensPerSegment)")
        batch.segmentCount = b + 1
        batch.sampleIndices.pointer[b] = Int64(sample)
        let epochKey = UInt32(truncatingIfNeeded: epoch)
        fillTokens(record, slot: b, batch: batch,
                   random: RandomStream(RandomKey(seed: seed, epoch: epochKey, purpose: .masking, item: UInt64(sample))))
        let mentions = record.mentions
        retriever.retrieve(mentionedEntities: stride(from: 2, to: mentions.count, by: 3).lazy.map { mentions[$0] },
                           sourceEntities: record.sourceEntities, segment: sample, into: &subgraph)
        fillGraph(slot: b, batch: batch,
                  random: RandomStream(RandomKey(seed: seed, epoch: epochKey, purpose: .linkSampling, item: UInt64(sample))))
    }

    private func fillTokens(_ record: SegmentRecord, slot b: Int, batch: TrainingBatch, random: RandomStream) {
        let width = batch.tokensPerSegment
        let base = b * width
        let count = record.tokens.count
        let ids = batch.inputIDs.pointer + base
        let attention = batch.attentionMask.pointer + base
        let labels = batch.mlmLabels.pointer + base
        let mentions = batch.mentionMask.pointer + base
        for t in 0..<width {
            if t < count {
                ids[t] = record.tokens[t]
                attention[t] = 1
            } else {
                ids[t] = specialTokens.pad
                attention[t] = 0
            }
            labels[t] = WholeWordMasking.ignoredLabel
            mentions[t] = 0
        }
        var m = 0
        while m + 2 < record.mentions.count {
            let start = max(0, Int(record.mentions[m])), end = min(count, Int(record.mentions[m + 1]))
            if start < end { for t in start..<end { mentions[t] = 1 } }
            m += 3
        }
        var random = random
        let masked = record.wordStarts.withUnsafeBufferPointer { starts in
            masking.mask(tokens: UnsafeMutableBufferPointer(start: ids, count: count), wordStarts: starts,
                         labels: UnsafeMutableBufferPointer(start: labels, count: count), random: &random, words: &words)
        }
        batch.maskedTokenCount += masked
    }

    private func fillGraph(slot b: Int, batch: TrainingBatch, random: RandomStream) {
        var random = random
        let relationCount = Int32(batch.relationCount)
        let interaction = Int32(batch.nodeCount)
        let kgNodes = subgraph.nodes.count
        let first = interaction + 1
        // Nodes: a source entity enters with x⁰ = 0 (entity −1; its id kept aside).
        batch.nodeEntity.pointer[Int(interaction)] = -1
        batch.nodeType.pointer[Int(interaction)] = 0
        batch.nodeSourceEntity.pointer[Int(interaction)] = -1
        for (k, entity) in subgraph.nodes.enumerated() {
            let source = subgraph.isSource[k]
            batch.nodeEntity.pointer[Int(first) + k] = source ? -1 : entity
            batch.nodeSourceEntity.pointer[Int(first) + k] = source ? entity : -1
            batch.nodeType.pointer[Int(first) + k] = k < subgraph.linkedCount ? 1 : 2
        }
        batch.nodeCount += 1 + kgNodes
        batch.nodePointer.pointer[b + 1] = Int32(batch.nodeCount)

        // Positives: a random sample of the candidates (partial Fisher–Yates).
        let candidates = subgraph.edges.count
        let positiveCount = LinkPredictionSampling.positiveCount(candidates: candidates)
        let removedCount = LinkPredictionSampling.removedCount(positives: positiveCount)
        candidateOrder.removeAll(keepingCapacity: true)
        for c in 0..<candidates { candidateOrder.append(Int32(c)) }
        for i in 0..<positiveCount {
            candidateOrder.swapAt(i, i + random.nextInt(below: candidates - i))
        }
        for i in 0..<removedCount {
            let edge = subgraph.edges[Int(candidateOrder[i])]
            removedPairs[Int(edge.source) * retriever.maxNodes + Int(edge.target)] = true
            removedPairs[Int(edge.target) * retriever.maxNodes + Int(edge.source)] = true
        }

        // Edges: surviving KG edges both directions, interaction↔linked, self-loops.
        batch.reserveEdges(batch.edgeCount + 2 * candidates + 2 * subgraph.linkedCount + 1 + kgNodes)
        var e = batch.edgeCount
        let source = batch.edgeSource.pointer, target = batch.edgeTarget.pointer, type = batch.edgeType.pointer
        for edge in subgraph.edges where !removedPairs[Int(edge.source) * retriever.maxNodes + Int(edge.target)] {
            source[e] = first + edge.source; target[e] = first + edge.target; type[e] = edge.relation
            source[e + 1] = first + edge.target; target[e + 1] = first + edge.source; type[e + 1] = relationCount + edge.relation
            e += 2
        }
        for k in 0..<Int32(subgraph.linkedCount) {
            source[e] = interaction; target[e] = first + k; type[e] = batch.interactionToLinked
            source[e + 1] = first + k; target[e + 1] = interaction; type[e + 1] = batch.linkedToInteraction
            e += 2
        }
        for node in interaction..<(first + Int32(kgNodes)) {
            source[e] = node; target[e] = node; type[e] = batch.selfLoop
            e += 1
        }
        batch.edgeCount = e
        for i in 0..<removedCount {
            let edge = subgraph.edges[Int(candidateOrder[i])]
            removedPairs[Int(edge.source) * retriever.maxNodes + Int(edge.target)] = false
            removedPairs[Int(edge.target) * retriever.maxNodes + Int(edge.source)] = false
        }

        // Positives and their negatives: a replacement that forms a known training triple is
        // drawn again, `maxDraws` draws at most (the last one kept).
        let side = LinkPredictionSampling.negativesPerSide
        let nodes = subgraph.nodes
        for i in 0..<positiveCount {
            let p = batch.positiveCount + i
            let edge = subgraph.edges[Int(candidateOrder[i])]
            batch.positives.pointer[3 * p] = first + edge.source
            batch.positives.pointer[3 * p + 1] = edge.relation
            batch.positives.pointer[3 * p + 2] = first + edge.target
            let head = nodes[Int(edge.source)], tail = nodes[Int(edge.target)]
            for k in 0..<side {
                var draw = random.nextInt(below: kgNodes)
                for _ in 1..<LinkPredictionSampling.maxDraws where graph.contains(head: nodes[draw], relation: edge.relation, tail: tail) {
                    draw = random.nextInt(below: kgNodes)
                }
                batch.negativeHeads.pointer[p * side + k] = first + Int32(draw)
            }
            for k in 0..<side {
                var draw = random.nextInt(below: kgNodes)
                for _ in 1..<LinkPredictionSampling.maxDraws where graph.contains(head: head, relation: edge.relation, tail: nodes[draw]) {
                    draw = random.nextInt(below: kgNodes)
                }
                batch.negativeTails.pointer[p * side + k] = first + Int32(draw)
            }
        }
        batch.positiveCount += positiveCount
        batch.positivePointer.pointer[b + 1] = Int32(batch.positiveCount)
    }
}

/// The ids of the special tokens in a vocabulary.
public struct SpecialTokenIDs: Equatable, Sendable {
    public var pad: Int32
    public var unknown: Int32
    public var cls: Int32
    public var sep: Int32
    public var mask: Int32

    public init(pad: Int32, unknown: Int32, cls: Int32, sep: Int32, mask: Int32) {
        self.pad = pad
        self.unknown = unknown
        self.cls = cls
        self.sep = sep
        self.mask = mask
    }

    /// Finds the five special tokens in `vocabulary` (token strings by id); throws a
    /// `DataError` naming `file` and the missing tokens.
    public init(vocabulary: [String], file: String) throws {
        var index: [String: Int32] = [:]
        for (id, token) in vocabulary.enumerated() where index[token] == nil { index[token] = Int32(id) }
        let missing = SpecialToken.allCases.filter { index[$0.rawValue] == nil }
        guard missing.isEmpty, let pad = index["[PAD]"], let unknown = index["[UNK]"], let cls = index["[CLS]"],
              let sep = index["[SEP]"], let mask = index["[MASK]"] else {
            throw DataError(.missingSpecialToken, file: file,
                            "the vocabulary lacks \(missing.map(\.rawValue).joined(separator: " ")); expected all of [PAD] [UNK] [CLS] [SEP] [MASK]")
        }
        self.init(pad: pad, unknown: unknown, cls: cls, sep: sep, mask: mask)
    }

    /// All five ids.
    public var all: [Int32] { [pad, unknown, cls, sep, mask] }
}
