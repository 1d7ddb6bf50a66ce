/// The counts of link-prediction sampling (DESIGN §3).
///
/// Per segment: candidates = the subgraph's forward KG edges; P = min(100, ⌊0.15 × candidates⌋)
/// positives drawn at random without replacement; the first ⌊0.9 P⌋ of them are removed from
/// the GNN input together with every edge between their two nodes (any relation, both
/// directions); each positive gets 32 replacement heads then 32 replacement tails drawn
/// uniformly with replacement from the segment's KG nodes (never the interaction node),
/// unfiltered. The batch assembly (`BatchAssembler`) applies these rules.
public enum LinkPredictionSampling {
    /// At most this many positives per segment.
    public static let maxPositives = 100
    /// Replacement heads per positive, and replacement tails per positive.
    public static let negativesPerSide = 32

    /// P = min(100, ⌊0.15 × candidates⌋).
    public static func positiveCount(candidates: Int) -> Int {
        min(maxPositives, 15 * candidates / 100)
    }

    /// ⌊0.9 P⌋: the positives removed from the GNN input.
    public static func removedCount(positives: Int) -> Int {
        9 * positives / 10
    }
}
