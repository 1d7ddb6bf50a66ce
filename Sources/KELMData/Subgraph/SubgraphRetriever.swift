/// The KG part of a segment's graph: its nodes (entities) and the training-graph edges among them.
public struct Subgraph: Equatable, Sendable {
    /// KG nodes (entity ids): the linked entities first (node type 1), then the others (type 2).
    /// The interaction node is not listed here; in a batch it comes before these.
    public var nodes: [Int32] = []
    /// How many of `nodes` (a prefix) are linked entities.
    public var linkedCount = 0
    /// Forward KG edges among `nodes` as (source, relation, target) with positions into `nodes`
    /// and relation ids 0..<R, sorted by (source, target, relation).
    public var edges: [SubgraphEdge] = []

    public init() {}

    /// Empties the subgraph, keeping its storage.
    public mutating func removeAll() {
        nodes.removeAll(keepingCapacity: true)
        edges.removeAll(keepingCapacity: true)
        linkedCount = 0
    }
}

/// A forward KG edge of a subgraph; `source` and `target` index `Subgraph.nodes`.
public struct SubgraphEdge: Equatable, Sendable {
    public var source: Int32
    public var relation: Int32
    public var target: Int32

    public init(source: Int32, relation: Int32, target: Int32) {
        self.source = source
        self.relation = relation
        self.target = target
    }
}

/// Retrieves a segment's subgraph (DRAGON's rule, DESIGN §6): the linked entities ∪ every KG
/// node adjacent to at least two of them, with the training-graph edges among them; at most
/// `maxNodes` nodes counting the interaction node: the linked entities in order of first
/// mention, then the others by number of adjacent linked entities (descending), then id.
/// The segment's source entity is never included, neither as linked entity nor as other node.
///
/// "Adjacent" means joined by any training-graph edge, either direction; a node's count is
/// the number of distinct linked entities (after removing the source entity, before the cap)
/// it is adjacent to. The retriever keeps scratch arrays the size of the entity set and reuses
/// them, so a call allocates only when a subgraph outgrows the storage of the previous ones.
public struct SubgraphRetriever {
    /// The training graph.
    public let graph: Adjacency
    /// J: at most this many nodes including the interaction node.
    public let maxNodes: Int

    private var linkedNeighbourCount: [Int32]
    private var lastVisitor: [Int]
    private var position: [Int32]
    private var isLinked: [Bool]
    private var visitor = 0
    private var touched: [Int32] = []
    private var linked: [Int32] = []
    private var others: [(Int32, Int32)] = []

    public init(graph: Adjacency, maxNodes: Int) {
        precondition(maxNodes >= 1, "SubgraphRetriever: maxNodes counts the interaction node, so it must be at least 1")
        self.graph = graph
        self.maxNodes = maxNodes
        linkedNeighbourCount = Array(repeating: 0, count: graph.nodeCount)
        lastVisitor = Array(repeating: -1, count: graph.nodeCount)
        position = Array(repeating: -1, count: graph.nodeCount)
        isLinked = Array(repeating: false, count: graph.nodeCount)
    }

    /// The subgraph of a segment whose mentions link `mentionedEntities` (in text order,
    /// repeats allowed) and whose source entity is `sourceEntity` (−1 for none).
    public mutating func retrieve(mentionedEntities: some Sequence<Int32>, sourceEntity: Int32) -> Subgraph {
        var subgraph = Subgraph()
        retrieve(mentionedEntities: mentionedEntities, sourceEntity: sourceEntity, into: &subgraph)
        return subgraph
    }

    /// As `retrieve(mentionedEntities:sourceEntity:)`, into `subgraph`'s storage.
    public mutating func retrieve(mentionedEntities: some Sequence<Int32>, sourceEntity: Int32, into subgraph: inout Subgraph) {
        subgraph.removeAll()
        linked.removeAll(keepingCapacity: true)
        for entity in mentionedEntities where entity != sourceEntity && entity >= 0 && !isLinked[Int(entity)] {
            isLinked[Int(entity)] = true
            linked.append(entity)
        }
        // Count, for every other node, the distinct linked entities it is adjacent to.
        touched.removeAll(keepingCapacity: true)
        for entity in linked {
            visitor += 1
            for entry in graph.entries(of: entity) {
                let neighbour = graph.neighbors[entry]
                let n = Int(neighbour)
                if isLinked[n] || neighbour == sourceEntity || lastVisitor[n] == visitor { continue }
                lastVisitor[n] = visitor
                if linkedNeighbourCount[n] == 0 { touched.append(neighbour) }
                linkedNeighbourCount[n] += 1
            }
        }
        others.removeAll(keepingCapacity: true)
        for node in touched where linkedNeighbourCount[Int(node)] >= 2 {
            others.append((linkedNeighbourCount[Int(node)], node))
        }
        others.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
        for node in touched { linkedNeighbourCount[Int(node)] = 0 }
        for entity in linked { isLinked[Int(entity)] = false }

        let capacity = maxNodes - 1
        let linkedKept = min(linked.count, capacity)
        subgraph.nodes.append(contentsOf: linked[0..<linkedKept])
        subgraph.linkedCount = linkedKept
        for (_, node) in others.prefix(capacity - linkedKept) { subgraph.nodes.append(node) }

        // Forward edges among the nodes.
        for (index, node) in subgraph.nodes.enumerated() { position[Int(node)] = Int32(index) }
        let relationCount = Int32(graph.relationCount)
        for (index, node) in subgraph.nodes.enumerated() {
            for entry in graph.entries(of: node) {
                let relation = graph.relations[entry]
                guard relation < relationCount else { continue }
                let target = position[Int(graph.neighbors[entry])]
                if target >= 0 {
                    subgraph.edges.append(SubgraphEdge(source: Int32(index), relation: relation, target: target))
                }
            }
        }
        for node in subgraph.nodes { position[Int(node)] = -1 }
        subgraph.edges.sort { ($0.source, $0.target, $0.relation) < ($1.source, $1.target, $1.relation) }
    }
}
