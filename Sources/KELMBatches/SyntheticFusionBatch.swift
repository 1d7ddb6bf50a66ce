import KELMModel
import KELMNumerics

/// A synthetic batch for the fusion model (benchmarks, and `debug dump-batch` without a
/// dataset): B segments of T random tokens with 15% masked; per segment a subgraph of J nodes
/// (interaction node, J/4 linked, the rest other) with self-loops, interaction↔linked edges and
/// `kgDegree` random KG edges per node in both directions; link-prediction positives drawn
/// from the forward KG edges with DESIGN §3's counts, ⌊0.9 P⌋ of them removed from the GNN
/// input with every edge between their two nodes, and 32 + 32 negatives from the segment's KG nodes.
public struct SyntheticFusionBatch {
    public var batch: Int
    public var tokens: Int
    public var nodesPerGraph: Int
    public var entities: Int
    public var kgDegree = 3
    public var seed: UInt64 = 0

    public init(batch: Int, tokens: Int, nodesPerGraph: Int, entities: Int) {
        self.batch = batch
        self.tokens = tokens
        self.nodesPerGraph = nodesPerGraph
        self.entities = entities
    }

    /// Upper bounds on nodes, edges and positives of a batch, for allocating the model.
    public var capacity: (nodes: Int, edges: Int, positives: Int) {
        let J = nodesPerGraph, linked = max(1, J / 4)
        let edges = J + 2 * linked + 2 * kgDegree * (J - 1)
        return (batch * J, batch * edges, batch * 100)
    }

    public func fill(text: TokenBatch, graph: GraphBatch, links: LinkBatch, config c: FusionConfig) throws {
        text.reshape(batch: batch, tokens: tokens)
        SyntheticTokenBatch.fill(text, config: c.bert, maskFraction: 0.15, seed: seed)
        var rng = RandomStream(RandomKey(seed: seed, purpose: .benchmark, stream: 1))
        let J = nodesPerGraph, linked = max(1, J / 4), R = c.numRelations
        var nodes: [(entity: Int32, type: Int32)] = []
        var edges: [(Int32, Int32, Int32)] = []
        var positives: [(Int32, Int32, Int32)] = []
        var negHeads: [Int32] = [], negTails: [Int32] = []
        graph.nodePtr.pointer[0] = 0
        for b in 0..<batch {
            let base = Int32(nodes.count)
            nodes.append((-1, 0))
            var used = Set<Int32>()
            for v in 1..<J {
                var e: Int32
                repeat { e = Int32(rng.nextInt(below: entities)) } while used.contains(e)
                used.insert(e)
                nodes.append((e, v <= linked ? 1 : 2))
            }
            graph.nodePtr.pointer[b + 1] = Int32(nodes.count)
            var kg: [(Int32, Int32, Int32)] = []
            for v in 1..<J {
                for _ in 0..<kgDegree {
                    var u = 1 + rng.nextInt(below: J - 1)
                    if u == v { u = u % (J - 1) + 1 }
                    kg.append((base + Int32(v), Int32(rng.nextInt(below: R)), base + Int32(u)))
                }
            }
            // link-prediction positives (DESIGN §3): P = min(100, ⌊0.15 · candidates⌋)
            let P = min(100, kg.count * 15 / 100)
            for i in 0..<P {
                let j = i + rng.nextInt(below: kg.count - i)
                kg.swapAt(i, j)
            }
            let removed = P * 9 / 10
            var cut = Set<[Int32]>()
            for i in 0..<removed { cut.insert([min(kg[i].0, kg[i].2), max(kg[i].0, kg[i].2)]) }
            for i in 0..<P {
                positives.append(kg[i])
                for _ in 0..<LinkBatch.negativesPerSide {
                    negHeads.append(base + Int32(1 + rng.nextInt(below: J - 1)))
                    negTails.append(base + Int32(1 + rng.nextInt(below: J - 1)))
                }
            }
            for v in 0..<J { edges.append((base + Int32(v), base + Int32(v), Int32(2 * R + 2))) }
            for v in 1...linked {
                edges.append((base, base + Int32(v), Int32(2 * R)))
                edges.append((base + Int32(v), base, Int32(2 * R + 1)))
            }
            for (s, r, t) in kg where !cut.contains([min(s, t), max(s, t)]) {
                edges.append((s, t, r))
                edges.append((t, s, r + Int32(R)))
            }
        }
        try graph.reshape(graphs: batch, nodes: nodes.count, edges: edges.count)
        for (v, n) in nodes.enumerated() {
            graph.nodeEntity.pointer[v] = n.entity
            graph.nodeType.pointer[v] = n.type
        }
        for (e, edge) in edges.enumerated() {
            graph.edgeSource.pointer[e] = edge.0
            graph.edgeTarget.pointer[e] = edge.1
            graph.edgeRelation.pointer[e] = edge.2
        }
        try graph.finalize(numRelations: R, entityCount: entities)
        try links.reshape(count: positives.count)
        for (i, p) in positives.enumerated() {
            links.positives.pointer[3 * i] = p.0
            links.positives.pointer[3 * i + 1] = p.1
            links.positives.pointer[3 * i + 2] = p.2
        }
        for i in 0..<negHeads.count {
            links.negativeHeads.pointer[i] = negHeads[i]
            links.negativeTails.pointer[i] = negTails[i]
        }
    }
}
