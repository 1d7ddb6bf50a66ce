/// A graph's adjacency in compressed sparse rows, both directions: a triple (h, r, t) is the
/// entry h → t with relation r and the entry t → h with relation R + r. Each node's entries are
/// sorted by (neighbour, relation).
public struct Adjacency: Sendable, Equatable {
    /// Number of nodes (entities).
    public let nodeCount: Int
    /// R: relation ids below R are forward, R..<2R inverse.
    public let relationCount: Int
    /// Node v's entries are `offsets[v] ..< offsets[v + 1]` (nodeCount + 1 values).
    public let offsets: [Int64]
    /// The neighbour of each entry.
    public let neighbors: [Int32]
    /// The relation of each entry (0..<2R).
    public let relations: [Int32]

    /// Builds the adjacency of `triples` (forward, relation ids 0..<relationCount).
    public init(nodeCount: Int, relationCount: Int, triples: [Triple]) {
        self.nodeCount = nodeCount
        self.relationCount = relationCount
        var degree = [Int64](repeating: 0, count: nodeCount + 1)
        for triple in triples {
            degree[Int(triple.head) + 1] += 1
            degree[Int(triple.tail) + 1] += 1
        }
        for v in 0..<nodeCount { degree[v + 1] += degree[v] }
        let offsets = degree
        var fill = Array(offsets.dropLast())
        var neighbors = [Int32](repeating: 0, count: 2 * triples.count)
        var relations = [Int32](repeating: 0, count: 2 * triples.count)
        let inverse = Int32(relationCount)
        for triple in triples {
            let h = Int(triple.head), t = Int(triple.tail)
            neighbors[Int(fill[h])] = triple.tail
            relations[Int(fill[h])] = triple.relation
            fill[h] += 1
            neighbors[Int(fill[t])] = triple.head
            relations[Int(fill[t])] = inverse + triple.relation
            fill[t] += 1
        }
        // Sort each row by (neighbour, relation).
        var row: [(Int32, Int32)] = []
        for v in 0..<nodeCount {
            let range = Int(offsets[v])..<Int(offsets[v + 1])
            guard range.count > 1 else { continue }
            row.removeAll(keepingCapacity: true)
            for i in range { row.append((neighbors[i], relations[i])) }
            row.sort { $0 < $1 }
            for (k, i) in range.enumerated() {
                neighbors[i] = row[k].0
                relations[i] = row[k].1
            }
        }
        self.offsets = offsets
        self.neighbors = neighbors
        self.relations = relations
    }

    /// An adjacency read back from a dataset file (validated by the reader).
    public init(nodeCount: Int, relationCount: Int, offsets: [Int64], neighbors: [Int32], relations: [Int32]) {
        self.nodeCount = nodeCount
        self.relationCount = relationCount
        self.offsets = offsets
        self.neighbors = neighbors
        self.relations = relations
    }

    /// Number of entries (twice the number of triples).
    public var entryCount: Int { neighbors.count }

    /// The entries of node `v`.
    @inlinable
    public func entries(of v: Int32) -> Range<Int> {
        Int(offsets[Int(v)])..<Int(offsets[Int(v) + 1])
    }

    /// Whether any edge (any relation, either direction) joins `a` and `b`.
    public func connected(_ a: Int32, _ b: Int32) -> Bool {
        var low = Int(offsets[Int(a)]), high = Int(offsets[Int(a) + 1])
        while low < high {
            let mid = (low + high) / 2
            if neighbors[mid] < b { low = mid + 1 } else { high = mid }
        }
        return low < Int(offsets[Int(a) + 1]) && neighbors[low] == b
    }

    /// Whether (head, relation, tail) is a triple of the graph (relation < R, forward).
    public func contains(head: Int32, relation: Int32, tail: Int32) -> Bool {
        // row `head` is sorted by (neighbour, relation); the forward entry is (tail, relation)
        let end = Int(offsets[Int(head) + 1])
        var low = Int(offsets[Int(head)]), high = end
        while low < high {
            let mid = (low + high) / 2
            if (neighbors[mid], relations[mid]) < (tail, relation) { low = mid + 1 } else { high = mid }
        }
        return low < end && neighbors[low] == tail && relations[low] == relation
    }
}
