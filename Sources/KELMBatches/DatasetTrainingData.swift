import Foundation
import KELMData
import KELMModel
import KELMNumerics

/// A dataset written by `kelm-dist prepare` as the trainer's `TrainingData`: the data
/// module's loader (sample order, hyperslab reads of this rank's rows, masking and link
/// sampling) feeding the model's batch buffers.
public final class DatasetTrainingData: TrainingData {
    public let dataset: DatasetFile
    public let maxNodes: Int
    public let seed: UInt64
    public let descriptionTokens: Int
    public var numRelations: Int { dataset.relationCount }
    public var entityCount: Int { dataset.entityCount }
    public var segmentCount: Int { dataset.segmentCount(.train) }
    public var nodesPerSegment: Int { maxNodes }
    public var vocabularyDigest: String? { dataset.vocabularyDigest }
    /// Room for the densest subgraphs; a batch beyond it is a clear error.
    public var edgesPerSegment: Int { 32 * maxNodes }
    public let reachableEntities: [Int]
    private var loader: BatchLoader?
    /// The descriptions the memory encodes, and how one without its entity's name is (`memory.anchor`).
    public let descriptions: EntityDescriptions
    public let anchor: EntityDescriptions.Anchor

    /// Opens the dataset at `path` (its directory or `dataset.h5`).
    public init(path: String, maxNodes: Int, seed: UInt64, anchor: EntityDescriptions.Anchor = .name) throws {
        dataset = try DatasetFile(path: path)
        self.maxNodes = maxNodes
        self.seed = seed
        self.anchor = anchor
        descriptionTokens = dataset.descriptionTokens
        descriptions = try dataset.descriptions()
        // entities that can appear in a training subgraph: every entity with a training edge
        // (it can be a retrieved neighbour) and every entity linked in a training segment
        var reachable = [Bool](repeating: false, count: dataset.entityCount)
        let g = dataset.trainingGraph
        for v in 0..<g.nodeCount where g.offsets[v + 1] > g.offsets[v] { reachable[v] = true }
        for e in try dataset.mentionedEntities(.train) where e >= 0 && Int(e) < reachable.count { reachable[Int(e)] = true }
        reachableEntities = reachable.indices.filter { reachable[$0] }
    }

    public func fill(_ batch: FusionBatch, step: Int, microStep: Int, rank: Int, order: SampleOrder) throws {
        let cursor = LoaderCursor(epoch: step / order.stepsPerEpoch, step: step % order.stepsPerEpoch, microStep: microStep)
        if loader == nil || loader!.cursor != cursor || loader!.options.rank != rank {
            var options = LoaderOptions()
            options.seed = seed
            options.microBatch = order.microBatch
            options.accumulation = order.accumulation
            options.rank = rank
            options.worldSize = order.worldSize
            options.maxNodes = maxNodes
            options.maxTokens = batch.text.capacityTokens
            loader = try BatchLoader(dataset: dataset, options: options, cursor: cursor)
        }
        let b = try loader!.next()
        try batch.load(from: b, numRelations: numRelations, entityCount: entityCount)
    }

    public func description(of entity: Int, into tokens: UnsafeMutablePointer<Int32>, capacity: Int) throws
        -> (length: Int, start: Int, end: Int) {
        descriptions.write(entity, anchor: anchor, into: tokens, capacity: capacity)
    }
}

extension FusionBatch {
    /// Copies the data module's batch (DESIGN §9 contents) into the model's buffers.
    public func load(from b: KELMData.TrainingBatch, numRelations: Int, entityCount: Int) throws {
        let B = b.segmentCount, T = b.tokensPerSegment, n = B * T
        beginBatch(tokens: T)
        text.reshape(batch: B, tokens: T)
        text.inputIds.pointer.update(from: b.inputIDs.pointer, count: n)
        text.attentionMask.pointer.update(from: b.attentionMask.pointer, count: n)
        text.labels.pointer.update(from: b.mlmLabels.pointer, count: n)
        mentionMask.pointer.update(from: b.mentionMask.pointer, count: n)
        for i in 0..<B { text.sampleIndices[i] = UInt64(b.sampleIndices.pointer[i]) }
        try graph.reshape(graphs: B, nodes: b.nodeCount, edges: b.edgeCount)
        graph.nodePtr.pointer.update(from: b.nodePointer.pointer, count: B + 1)
        graph.nodeEntity.pointer.update(from: b.nodeEntity.pointer, count: b.nodeCount)
        graph.nodeType.pointer.update(from: b.nodeType.pointer, count: b.nodeCount)
        graph.nodeSourceEntity.pointer.update(from: b.nodeSourceEntity.pointer, count: b.nodeCount)
        graph.edgeSource.pointer.update(from: b.edgeSource.pointer, count: b.edgeCount)
        graph.edgeTarget.pointer.update(from: b.edgeTarget.pointer, count: b.edgeCount)
        graph.edgeRelation.pointer.update(from: b.edgeType.pointer, count: b.edgeCount)
        try graph.finalize(numRelations: numRelations, entityCount: entityCount)
        try links.reshape(count: b.positiveCount)
        let K = LinkBatch.negativesPerSide
        links.positives.pointer.update(from: b.positives.pointer, count: 3 * b.positiveCount)
        links.negativeHeads.pointer.update(from: b.negativeHeads.pointer, count: K * b.positiveCount)
        links.negativeTails.pointer.update(from: b.negativeTails.pointer, count: K * b.positiveCount)
    }
}
