import KELMData

/// Filtered ranking of link prediction (docs/evaluation.md): the rank of the true answer among
/// the candidates by score, the other known true answers removed, ties counted by the mean-rank
/// ("realistic") convention: rank = 1 + #{higher} + #{equal}/2, so that a model that scores
/// every candidate the same gets the expected rank of a random order, not the best or the worst.
public enum FilteredRanking {
    /// The rank of candidate `target` in `scores` (one per candidate), skipping the candidates
    /// for which `isFiltered` is true (the other known answers; never called for `target`).
    public static func rank(scores: UnsafeBufferPointer<Float>, target: Int, isFiltered: (Int) -> Bool) -> Double {
        let s = scores[target]
        var higher = 0, equal = 0
        for c in 0..<scores.count where c != target {
            let v = scores[c]
            if v > s {
                if !isFiltered(c) { higher += 1 }
            } else if v == s {
                if !isFiltered(c) { equal += 1 }
            }
        }
        return 1 + Double(higher) + Double(equal) / 2
    }

    /// As above, for an array of scores and a set of filtered candidate indices.
    public static func rank(scores: [Float], target: Int, filtered: Set<Int>) -> Double {
        scores.withUnsafeBufferPointer { rank(scores: $0, target: target, isFiltered: { filtered.contains($0) }) }
    }
}

/// MRR and Hits@k over a list of ranks.
public struct RankingMetrics: Equatable, Sendable {
    public var count = 0
    public var reciprocalSum = 0.0
    public var hits1 = 0, hits3 = 0, hits10 = 0

    public init() {}

    /// The metrics of `ranks`, accumulated in their order.
    public init<S: Sequence>(ranks: S) where S.Element == Double {
        for r in ranks { add(r) }
    }

    public mutating func add(_ rank: Double) {
        count += 1
        reciprocalSum += 1 / rank
        if rank <= 1 { hits1 += 1 }
        if rank <= 3 { hits3 += 1 }
        if rank <= 10 { hits10 += 1 }
    }

    public var mrr: Double? { count > 0 ? reciprocalSum / Double(count) : nil }
    public func hits(_ k: Int) -> Double? {
        guard count > 0 else { return nil }
        switch k {
        case 1: return Double(hits1) / Double(count)
        case 3: return Double(hits3) / Double(count)
        case 10: return Double(hits10) / Double(count)
        default: preconditionFailure("Hits@\(k) is not tracked (1, 3, 10 are)")
        }
    }
}

/// Every known true triple (train, valid and test), indexed for filtering: the true tails of
/// (h, r, ·) and the true heads of (·, r, t).
public struct KnownTriples: Sendable {
    private var tails: [UInt64: [Int32]] = [:]
    private var heads: [UInt64: [Int32]] = [:]

    public init<S: Sequence>(_ triples: S) where S.Element == Triple {
        for t in triples {
            tails[Self.key(t.head, t.relation), default: []].append(t.tail)
            heads[Self.key(t.tail, t.relation), default: []].append(t.head)
        }
    }

    static func key(_ entity: Int32, _ relation: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: entity)) << 32 | UInt64(UInt32(bitPattern: relation))
    }

    /// The true tails t′ of (head, relation, t′).
    public func tails(head: Int32, relation: Int32) -> [Int32] { tails[Self.key(head, relation)] ?? [] }
    /// The true heads h′ of (h′, relation, tail).
    public func heads(tail: Int32, relation: Int32) -> [Int32] { heads[Self.key(tail, relation)] ?? [] }
}
