/// The counts of link-prediction sampling (DESIGN §3).
///
/// Per segment: candidates = the subgraph's forward KG edges, E of them; P = min(100,
/// max(1, ⌊0.15 E⌋)) positives drawn at random without replacement when E ≥ 1 (0 when E = 0);
/// the first P − ⌊0.1 P⌋ of them are removed from the GNN input together with every edge between
/// their two nodes (any relation, both directions), so even a single positive is hidden; each
/// positive gets 32 replacement heads then 32 replacement tails drawn uniformly with replacement
/// from the segment's KG nodes (never the interaction node); a draw that forms a known training
/// triple is drawn again, at most `maxDraws` draws in all (the last one is kept). The batch
/// assembly (`BatchAssembler`) applies these rules.
public enum LinkPredictionSampling {
    /// At most this many positives per segment.
    public static let maxPositives = 100
    /// Replacement heads per positive, and replacement tails per positive.
    public static let negativesPerSide = 32
    /// Draws of one negative at most: a draw that forms a known training triple is redrawn
    /// until this many have been made; the last is kept whatever it forms.
    public static let maxDraws = 8

    /// P = min(100, max(1, ⌊0.15 E⌋)) for E ≥ 1 candidates, 0 for none.
    public static func positiveCount(candidates: Int) -> Int {
        candidates == 0 ? 0 : min(maxPositives, max(1, 15 * candidates / 100))
    }

    /// P − ⌊0.1 P⌋: the positives removed from the GNN input.
    public static func removedCount(positives: Int) -> Int {
        positives - positives / 10
    }
}
