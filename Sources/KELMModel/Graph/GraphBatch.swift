import KELMNumerics

/// The subgraphs of a micro-batch as one disjoint union (DESIGN §2, §9): node ids are global
/// within the batch, segment b owns nodes nodePtr[b] ..< nodePtr[b+1], and nodePtr[b] is its
/// interaction node. Preallocated for the largest batch and refilled in place.
public final class GraphBatch {
    public let capacityGraphs: Int, capacityNodes: Int, capacityEdges: Int
    public private(set) var graphs = 0
    public private(set) var nodes = 0
    public private(set) var edges = 0
    /// [B+1]
    public let nodePtr: IndexBuffer
    /// [N] row of the entity memory M; −1 for interaction nodes and for source nodes (x⁰ = 0).
    public let nodeEntity: IndexBuffer
    /// [N] 0 interaction, 1 linked or source, 2 other.
    public let nodeType: IndexBuffer
    /// [N] the entity of a source node (one the segment's texts describe: its memory row would
    /// leak the text, so it enters with x⁰ = 0, DESIGN §2, §6), −1 on every other node. The
    /// model does not read it; the batch dump writes it (`/graph/node_source_entity`).
    public let nodeSourceEntity: IndexBuffer
    /// [N] which segment a node belongs to.
    public let nodeGraph: IndexBuffer
    /// [E] source and target node of each edge, and its relation id (0 … 2R+2).
    public let edgeSource: IndexBuffer, edgeTarget: IndexBuffer, edgeRelation: IndexBuffer
    /// Incoming edges grouped by target: edges incomingOrder[incomingPtr[t] ..< incomingPtr[t+1]] end at t.
    public let incomingPtr: IndexBuffer, incomingOrder: IndexBuffer

    public init(capacityGraphs: Int, capacityNodes: Int, capacityEdges: Int) {
        self.capacityGraphs = capacityGraphs
        self.capacityNodes = capacityNodes
        self.capacityEdges = capacityEdges
        nodePtr = IndexBuffer(count: capacityGraphs + 1)
        nodeEntity = IndexBuffer(count: capacityNodes)
        nodeType = IndexBuffer(count: capacityNodes)
        nodeSourceEntity = IndexBuffer(count: capacityNodes)
        nodeSourceEntity.pointer.update(repeating: -1, count: capacityNodes)  // no source until one is set
        nodeGraph = IndexBuffer(count: capacityNodes)
        edgeSource = IndexBuffer(count: capacityEdges)
        edgeTarget = IndexBuffer(count: capacityEdges)
        edgeRelation = IndexBuffer(count: capacityEdges)
        incomingPtr = IndexBuffer(count: capacityNodes + 1)
        incomingOrder = IndexBuffer(count: capacityEdges)
    }

    /// Sets the sizes of the next batch; the caller fills nodePtr[0...graphs], the node arrays
    /// and the edge arrays, then calls `finalize`.
    public func reshape(graphs: Int, nodes: Int, edges: Int) throws {
        guard graphs <= capacityGraphs, nodes <= capacityNodes, edges <= capacityEdges else {
            throw ModelError.capacityExceeded("\(graphs) graphs, \(nodes) nodes, \(edges) edges; capacity \(capacityGraphs), \(capacityNodes), \(capacityEdges)")
        }
        self.graphs = graphs
        self.nodes = nodes
        self.edges = edges
    }

    /// Checks the filled arrays and builds the per-node graph index and the incoming-edge
    /// grouping (a counting sort by target; stable, so edges keep their order within a target).
    public func finalize(numRelations: Int, entityCount: Int) throws {
        func bad(_ m: String) -> ModelError { .invalidArchitecture("graph batch: " + m) }
        guard nodePtr.pointer[0] == 0, Int(nodePtr.pointer[graphs]) == nodes else { throw bad("node_ptr must run from 0 to \(nodes)") }
        for b in 0..<graphs {
            let start = Int(nodePtr.pointer[b]), end = Int(nodePtr.pointer[b + 1])
            guard end > start else { throw bad("segment \(b) has no interaction node") }
            guard nodeType.pointer[start] == 0, nodeEntity.pointer[start] == -1 else {
                throw bad("node \(start), first of segment \(b), must be its interaction node (type 0, entity −1)")
            }
            for v in start..<end {
                nodeGraph.pointer[v] = Int32(b)
                let t = nodeType.pointer[v], e = Int(nodeEntity.pointer[v]), source = Int(nodeSourceEntity.pointer[v])
                if v > start {
                    guard t == 1 || t == 2 else { throw bad("node \(v) has type \(t), expected 1 or 2") }
                    if source >= 0 {
                        guard t == 1, e == -1, source < entityCount else {
                            throw bad("node \(v) is source entity \(source): expected type 1, entity −1 (x⁰ = 0) and an entity below \(entityCount)")
                        }
                    } else {
                        guard e >= 0 && e < entityCount else { throw bad("node \(v) has entity \(e), outside 0..<\(entityCount)") }
                    }
                } else if source >= 0 {
                    throw bad("interaction node \(v) has a source entity")
                }
            }
        }
        let relations = Int32(2 * numRelations + 3)
        for i in 0..<(nodes + 1) { incomingPtr.pointer[i] = 0 }
        for e in 0..<edges {
            let s = edgeSource.pointer[e], t = edgeTarget.pointer[e], r = edgeRelation.pointer[e]
            guard s >= 0 && Int(s) < nodes && t >= 0 && Int(t) < nodes else { throw bad("edge \(e) joins \(s) → \(t), outside 0..<\(nodes)") }
            guard nodeGraph.pointer[Int(s)] == nodeGraph.pointer[Int(t)] else { throw bad("edge \(e) joins two segments") }
            guard r >= 0 && r < relations else { throw bad("edge \(e) has relation \(r), outside 0..<\(relations)") }
            incomingPtr.pointer[Int(t) + 1] += 1
        }
        for v in 0..<nodes { incomingPtr.pointer[v + 1] += incomingPtr.pointer[v] }
        // fill using nodeGraph-free cursor: reuse incomingOrder positions via a running count per target
        for e in 0..<edges {
            let t = Int(edgeTarget.pointer[e])
            incomingOrder.pointer[Int(incomingPtr.pointer[t])] = Int32(e)
            incomingPtr.pointer[t] += 1
        }
        // incomingPtr[t] now holds the end of t's range; shift back to starts
        var previous: Int32 = 0
        for v in 0..<nodes {
            let end = incomingPtr.pointer[v]
            incomingPtr.pointer[v] = previous
            previous = end
        }
        incomingPtr.pointer[nodes] = Int32(edges)
    }
}

/// Link-prediction examples of a micro-batch (DESIGN §3, §9), node ids global in the batch.
public final class LinkBatch {
    public static let negativesPerSide = 32
    public let capacity: Int
    public private(set) var count = 0
    /// [P, 3] (head node, relation, tail node).
    public let positives: IndexBuffer
    /// [P, 32] replacement heads and replacement tails.
    public let negativeHeads: IndexBuffer, negativeTails: IndexBuffer

    public init(capacity: Int) {
        self.capacity = capacity
        positives = IndexBuffer(count: capacity * 3)
        negativeHeads = IndexBuffer(count: capacity * Self.negativesPerSide)
        negativeTails = IndexBuffer(count: capacity * Self.negativesPerSide)
    }

    public func reshape(count: Int) throws {
        guard count <= capacity else { throw ModelError.capacityExceeded("\(count) link-prediction positives; capacity \(capacity)") }
        self.count = count
    }
}
