import Foundation
import KELMBatches
import KELMConfig
import KELMData

/// Errors choosing what to evaluate.
public enum EvaluationError: Error, CustomStringConvertible {
    case notAPreparedDataset
    case mismatch(String)
    case capacity(String)

    public var description: String {
        switch self {
        case .notAPreparedDataset:
            return "evaluation needs a dataset written by `kelm-dist prepare` (its held-out splits); synthetic data has none"
        case let .mismatch(m): return m
        case let .capacity(m): return m
        }
    }
}

/// The held-out data of one split of a prepared dataset, as evaluation reads it: the split's
/// segments (read by row, each rank its own), its triples, every known triple (for filtering),
/// the entity descriptions and the training graph.
public final class EvaluationData {
    public let dataset: DatasetFile
    public let split: DataSplit
    /// The split's held-out triples, as stored (sorted).
    public let triples: [Triple]
    /// Train, valid and test triples: the true answers removed by filtered ranking.
    public let known: KnownTriples
    let descriptionPointer: [Int64]
    let descriptionTokens: [Int32]

    /// The held-out data of `split` (`valid` or `test`) of an open dataset.
    public init(dataset: DatasetFile, split: DataSplit) throws {
        guard split != .train else { throw EvaluationError.mismatch("evaluation is on a held-out split: valid or test") }
        self.dataset = dataset
        self.split = split
        triples = try dataset.triples(split)
        known = KnownTriples(try dataset.triples(.train) + dataset.triples(.valid) + dataset.triples(.test))
        let d = try dataset.descriptions()
        descriptionPointer = d.pointer
        descriptionTokens = d.tokens
    }

    /// The held-out data of the dataset the trainer reads (a `DatasetTrainingData`).
    public convenience init(training data: TrainingData, split: DataSplit) throws {
        guard let d = data as? DatasetTrainingData else { throw EvaluationError.notAPreparedDataset }
        try self.init(dataset: d.dataset, split: split)
    }


    /// Held-out segments of the split.
    public var segmentCount: Int { dataset.segmentCount(split) }
    public var entityCount: Int { dataset.entityCount }
    public var relationCount: Int { dataset.relationCount }

    /// `[CLS] description [SEP]` of `entity`, cut to `capacity` tokens (the last one then `[SEP]`).
    func description(of entity: Int, capacity: Int) -> ArraySlice<Int32> {
        let start = Int(descriptionPointer[entity]), end = Int(descriptionPointer[entity + 1])
        return descriptionTokens[start..<min(end, start + capacity)]
    }

    func descriptionLength(of entity: Int, capacity: Int) -> Int {
        min(Int(descriptionPointer[entity + 1] - descriptionPointer[entity]), capacity)
    }
}

extension KELMConfig.EvalSection.Split {
    /// The data module's name of the split (`eval.split`).
    public var dataSplit: DataSplit { self == .valid ? .valid : .test }
}

/// The graph of an entity's own segment for link prediction (docs/evaluation.md): the entity
/// as the single linked node, then its training-graph neighbours (distinct, in CSR order, i.e.
/// by ascending entity id) up to J − 2 of them, and every training-graph KG edge among these
/// nodes (forward relation < R; the batch adds the inverses, the interaction edges and the
/// self-loops as for a training segment).
struct EntitySubgraph {
    /// KG nodes: the entity first.
    var nodes: [Int32] = []
    /// Forward KG edges (source, relation, target) as positions into `nodes`.
    var edges: [(source: Int32, relation: Int32, target: Int32)] = []

    /// Nodes of the segment, interaction node included.
    var nodeCount: Int { nodes.count + 1 }
    /// Edges of the segment: each KG edge both ways, interaction ↔ entity, a self-loop per node.
    var edgeCount: Int { 2 * edges.count + 2 + nodeCount }
}

/// Builds entity subgraphs, reusing a position table the size of the entity set.
struct EntitySubgraphBuilder {
    let graph: Adjacency
    /// J: nodes per segment at most, the interaction node included.
    let maxNodes: Int
    /// Edges one segment may have at most (the batch capacity); neighbours are dropped from the
    /// end until the segment fits.
    let maxEdges: Int
    private var position: [Int32]

    init(graph: Adjacency, maxNodes: Int, maxEdges: Int) {
        self.graph = graph
        self.maxNodes = maxNodes
        self.maxEdges = maxEdges
        position = Array(repeating: -1, count: graph.nodeCount)
    }

    mutating func build(_ entity: Int32) -> EntitySubgraph {
        var s = EntitySubgraph()
        s.nodes.append(entity)
        let cap = max(0, maxNodes - 2)
        var previous: Int32 = -1
        for entry in graph.entries(of: entity) where s.nodes.count - 1 < cap {
            let v = graph.neighbors[entry]
            if v != previous && v != entity { s.nodes.append(v) }
            previous = v
        }
        collectEdges(&s)
        while s.edgeCount > maxEdges && s.nodes.count > 1 {
            s.nodes.removeLast()
            collectEdges(&s)
        }
        return s
    }

    private mutating func collectEdges(_ s: inout EntitySubgraph) {
        s.edges.removeAll(keepingCapacity: true)
        for (i, v) in s.nodes.enumerated() { position[Int(v)] = Int32(i) }
        let R = Int32(graph.relationCount)
        for (i, v) in s.nodes.enumerated() {
            for entry in graph.entries(of: v) where graph.relations[entry] < R {
                let target = position[Int(graph.neighbors[entry])]
                if target >= 0 { s.edges.append((Int32(i), graph.relations[entry], target)) }
            }
        }
        for v in s.nodes { position[Int(v)] = -1 }
    }
}
