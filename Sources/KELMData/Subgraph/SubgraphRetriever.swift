import KELMNumerics

/// The KG part of a segment's graph: its nodes (entities) and the training-graph edges among them.
public struct Subgraph: Equatable, Sendable {
    /// KG nodes (entity ids): the type-1 nodes first — linked entities in order of first mention,
    /// then the segment's source entities that are not linked, in text order — then the others
    /// (type 2). The interaction node is not listed here; in a batch it comes before these.
    public var nodes: [Int32] = []
    /// How many of `nodes` (a prefix) are type 1 (linked or source entities).
    public var linkedCount = 0
    /// Per node: whether it is one of the segment's source entities (x⁰ = 0: its memory row
    /// encodes this very text, DESIGN §2, §6), wherever it stands.
    public var isSource: [Bool] = []
    /// Forward KG edges among `nodes` as (source, relation, target) with positions into `nodes`
    /// and relation ids 0..<R, sorted by (source, target, relation).
    public var edges: [SubgraphEdge] = []

    public init() {}

    /// Empties the subgraph, keeping its storage.
    public mutating func removeAll() {
        nodes.removeAll(keepingCapacity: true)
        isSource.removeAll(keepingCapacity: true)
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

/// Retrieves a segment's subgraph (DESIGN §6): at most `maxNodes` nodes counting the
/// interaction node, taken in this order until the cap is reached:
/// 1. the linked entities, distinct, in order of first mention;
/// 2. the segment's source entities that are not linked, in text order (type 1 like the linked
///    ones; a source entity has x⁰ = 0 wherever it stands, `Subgraph.isSource`);
/// 3. KG nodes adjacent to at least two nodes of 1–2 (DRAGON's 2-hop rule), by that count
///    descending, then id;
/// 4. the other 1-hop neighbours of 1–2, by the number of their neighbours in 1–2 descending,
///    then by h(seed, segment, entity) ascending — the counter-based generator's 64-bit output —
///    so a hub's neighbours are a seeded sample, not always the lowest ids.
/// Its edges: every training-graph edge among the nodes. "Adjacent" means joined by any
/// training-graph edge, either direction; a node's count is the number of distinct nodes of 1–2
/// it is adjacent to. The retriever keeps scratch arrays the size of the entity set and reuses
/// them, so a call allocates only when a subgraph outgrows the storage of the previous ones.
public struct SubgraphRetriever {
    /// The training graph.
    public let graph: Adjacency
    /// J: at most this many nodes including the interaction node.
    public let maxNodes: Int
    /// The seed of the neighbour sample (`data.seed`).
    public let seed: UInt64

    private var neighbourCount: [Int32]
    private var lastVisitor: [Int]
    private var position: [Int32]
    private var isSeed: [Bool]
    private var isSourceEntity: [Bool]
    private var visitor = 0
    private var touched: [Int32] = []
    private var seeds: [Int32] = []
    private var twoHop: [(count: Int32, entity: Int32)] = []
    private var oneHop: [(hash: UInt64, entity: Int32)] = []

    public init(graph: Adjacency, maxNodes: Int, seed: UInt64 = 0) {
        precondition(maxNodes >= 1, "SubgraphRetriever: maxNodes counts the interaction node, so it must be at least 1")
        self.graph = graph
        self.maxNodes = maxNodes
        self.seed = seed
        neighbourCount = Array(repeating: 0, count: graph.nodeCount)
        lastVisitor = Array(repeating: -1, count: graph.nodeCount)
        position = Array(repeating: -1, count: graph.nodeCount)
        isSeed = Array(repeating: false, count: graph.nodeCount)
        isSourceEntity = Array(repeating: false, count: graph.nodeCount)
    }

    /// h(seed, segment, entity): the 64-bit output of the counter-based generator that orders a
    /// segment's 1-hop neighbours of equal count (DESIGN §6).
    public static func neighbourHash(seed: UInt64, segment: Int, entity: Int32) -> UInt64 {
        let words = RandomKey(seed: seed, purpose: .neighbourSampling, stream: UInt32(bitPattern: entity), item: UInt64(segment)).block(0)
        return UInt64(words.0) << 32 | UInt64(words.1)
    }

    /// The subgraph of segment `segment` (its index in its split) whose mentions link
    /// `mentionedEntities` (in text order, repeats allowed) and whose texts describe
    /// `sourceEntities` (possibly none).
    public mutating func retrieve(mentionedEntities: some Sequence<Int32>, sourceEntities: [Int32], segment: Int) -> Subgraph {
        var subgraph = Subgraph()
        retrieve(mentionedEntities: mentionedEntities, sourceEntities: sourceEntities, segment: segment, into: &subgraph)
        return subgraph
    }

    /// As `retrieve(mentionedEntities:sourceEntities:segment:)`, into `subgraph`'s storage.
    public mutating func retrieve(mentionedEntities: some Sequence<Int32>, sourceEntities: [Int32], segment: Int,
                                  into subgraph: inout Subgraph) {
        subgraph.removeAll()
        seeds.removeAll(keepingCapacity: true)
        for entity in sourceEntities where entity >= 0 { isSourceEntity[Int(entity)] = true }
        // 1. linked entities in order of first mention, then 2. unlinked sources in text order
        for entity in mentionedEntities where entity >= 0 && !isSeed[Int(entity)] {
            isSeed[Int(entity)] = true
            seeds.append(entity)
        }
        for entity in sourceEntities where entity >= 0 && !isSeed[Int(entity)] {
            isSeed[Int(entity)] = true
            seeds.append(entity)
        }
        // every other node adjacent to a seed: the number of distinct seeds it is adjacent to
        touched.removeAll(keepingCapacity: true)
        for entity in seeds {
            visitor += 1
            for entry in graph.entries(of: entity) {
                let n = Int(graph.neighbors[entry])
                if isSeed[n] || lastVisitor[n] == visitor { continue }
                lastVisitor[n] = visitor
                if neighbourCount[n] == 0 { touched.append(Int32(n)) }
                neighbourCount[n] += 1
            }
        }
        let capacity = maxNodes - 1
        let seedsKept = min(seeds.count, capacity)
        subgraph.nodes.append(contentsOf: seeds[0..<seedsKept])
        subgraph.linkedCount = seedsKept
        var room = capacity - seedsKept
        if room > 0 {
            // 3. adjacent to ≥ 2 seeds: count descending, then id
            twoHop.removeAll(keepingCapacity: true)
            for node in touched where neighbourCount[Int(node)] >= 2 { twoHop.append((neighbourCount[Int(node)], node)) }
            twoHop.sort { $0.count != $1.count ? $0.count > $1.count : $0.entity < $1.entity }
            for (_, node) in twoHop.prefix(room) { subgraph.nodes.append(node) }
            room -= min(room, twoHop.count)
        }
        if room > 0 {
            // 4. the other 1-hop neighbours (count 1): a seeded sample by h(seed, segment, entity)
            oneHop.removeAll(keepingCapacity: true)
            for node in touched where neighbourCount[Int(node)] == 1 {
                oneHop.append((Self.neighbourHash(seed: seed, segment: segment, entity: node), node))
            }
            oneHop.sort { $0.hash != $1.hash ? $0.hash < $1.hash : $0.entity < $1.entity }
            for entry in oneHop.prefix(room) { subgraph.nodes.append(entry.entity) }
        }
        for node in touched { neighbourCount[Int(node)] = 0 }
        for entity in seeds { isSeed[Int(entity)] = false }
        for node in subgraph.nodes { subgraph.isSource.append(isSourceEntity[Int(node)]) }
        for entity in sourceEntities where entity >= 0 { isSourceEntity[Int(entity)] = false }

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
