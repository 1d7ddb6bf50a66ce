/// How a raw relation relates to the others (third column of `relations.tsv`).
public enum RelationDeclaration: Equatable, Sendable {
    /// An ordinary directed relation.
    case directed
    /// The inverse of the raw relation with this index: folded into it, its triples reversed.
    case inverse(of: Int)
    /// A symmetric relation: one triple per unordered entity pair is kept.
    case symmetric
}

/// Folds raw relations into the KG's R relations (DESIGN §6): a relation declared the inverse
/// of another disappears into it (its triples reversed); a symmetric relation keeps one triple
/// per unordered pair (head = the lower entity id). Duplicate triples are merged and
/// self-loops (head = tail) dropped: a self-loop would be indistinguishable from the GNN's
/// own self-loop edges and "every edge between the two nodes" of a positive is not defined for it.
public struct RelationFolding: Sendable {
    /// Why a declaration cannot be folded.
    public enum Problem: Error, Equatable {
        /// Raw relation `index` is declared the inverse of a relation index that does not exist.
        case inverseOutOfRange(index: Int)
        /// Raw relation `index` is declared its own inverse (declare it `symmetric`).
        case inverseOfItself(index: Int)
        /// Raw relation `index` is the inverse of a relation that is itself an inverse.
        case inverseOfInverse(index: Int)
    }

    /// For each raw relation: its folded relation id.
    public let foldedRelation: [Int32]
    /// For each raw relation: whether its triples are reversed when folded.
    public let reversed: [Bool]
    /// For each folded relation: whether it is symmetric.
    public let symmetric: [Bool]
    /// For each folded relation: the raw relation it keeps.
    public let keptRawRelation: [Int]

    /// R, the number of folded relations.
    public var count: Int { keptRawRelation.count }

    /// Folds `declarations` (one per raw relation, in raw order); folded relations keep the
    /// raw order of the relations that are not inverses.
    public init(_ declarations: [RelationDeclaration]) throws {
        var folded = [Int32](repeating: -1, count: declarations.count)
        var kept: [Int] = []
        var symmetric: [Bool] = []
        for (index, declaration) in declarations.enumerated() {
            if case .inverse = declaration { continue }
            folded[index] = Int32(kept.count)
            kept.append(index)
            symmetric.append(declaration == .symmetric)
        }
        var reversed = [Bool](repeating: false, count: declarations.count)
        for (index, declaration) in declarations.enumerated() {
            guard case .inverse(let target) = declaration else { continue }
            guard target >= 0 && target < declarations.count else { throw Problem.inverseOutOfRange(index: index) }
            guard target != index else { throw Problem.inverseOfItself(index: index) }
            if case .inverse = declarations[target] { throw Problem.inverseOfInverse(index: index) }
            folded[index] = folded[target]
            reversed[index] = true
        }
        foldedRelation = folded
        self.reversed = reversed
        self.symmetric = symmetric
        keptRawRelation = kept
    }

    /// The folded forward triple of a raw triple, or nil for a self-loop.
    public func fold(head: Int32, rawRelation: Int, tail: Int32) -> Triple? {
        guard head != tail else { return nil }
        let relation = foldedRelation[rawRelation]
        var (h, t) = reversed[rawRelation] ? (tail, head) : (head, tail)
        if symmetric[Int(relation)] && h > t { swap(&h, &t) }
        return Triple(head: h, relation: relation, tail: t)
    }

    /// Folds raw triples `(head, raw relation, tail)`; the result is sorted and unique.
    public func fold(_ raw: [(head: Int32, relation: Int, tail: Int32)]) -> [Triple] {
        var triples: [Triple] = []
        triples.reserveCapacity(raw.count)
        for item in raw {
            if let triple = fold(head: item.head, rawRelation: item.relation, tail: item.tail) { triples.append(triple) }
        }
        return sortedUnique(triples)
    }
}

/// `triples` sorted, duplicates removed.
func sortedUnique(_ triples: [Triple]) -> [Triple] {
    var sorted = triples
    sorted.sort()
    var unique: [Triple] = []
    unique.reserveCapacity(sorted.count)
    for triple in sorted where unique.last != triple { unique.append(triple) }
    return unique
}
