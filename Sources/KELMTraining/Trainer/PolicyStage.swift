import KELMDistributed
import KELMModel
import KELMNumerics

/// One stretch of training under one parameter policy (DESIGN §5): which groups train, which
/// tensors the optimizer updates, and the buckets their dense gradients are reduced in. A run
/// has one stage, or two with `train.adapt_steps`: the MLM-adaptation stage under `full`, then
/// `train.param_policy`.
public struct PolicyStage {
    /// The preset of this stage.
    public let preset: KELMConfig.TrainSection.ParamPolicy
    public let policies: GroupPolicies
    /// Per table entry: left alone by AdamW (frozen, or on a knowledge path: `RoutedAdamW`
    /// updates those).
    let frozen: [Bool]
    /// The dense gradients' reduction of this stage.
    public let reducer: GradientReducer

    /// Whether `lm.ffn` is routed in this stage (knowledge paths).
    public var routesFFN: Bool { policies[.ffn] == .routed }
    /// Whether the word embeddings train: their input-side gradient rows are then exchanged
    /// sparsely, apart from the tied decoder's dense part.
    public var trainsEmbeddings: Bool { policies[.embeddings] != .frozen }

    /// A stage's bucket plan and the tensors AdamW leaves alone, from its group policies. Under
    /// routing the knowledge-path tensors (`intermediate.dense.weight` and `.bias`,
    /// `output.dense.weight`) go through the path buffer; `output.dense.bias` and the FFN's
    /// LayerNorm stay dense. `stageIndex` gives each backward stage's position in the order
    /// backward completes them.
    static func plan(policies: GroupPolicies, table: ParameterTable, stageIndex: [BackwardStage: Int],
                     capBytes: Int) -> (buckets: [GradientReducer.Bucket], frozen: [Bool]) {
        let onPath: (String) -> Bool = { $0.hasSuffix("intermediate.dense.weight") || $0.hasSuffix("intermediate.dense.bias")
            || ($0.hasSuffix(".output.dense.weight") && !$0.contains(".attention.")) }
        let reduction: [ReductionPolicy] = zip(table.entries, policies.perEntry(table)).map { e, p in
            p == .routed ? (onPath(e.name) ? .routed : .dense) : p
        }
        let splitWordGradient = policies[.embeddings] != .frozen
        let buckets = GradientReducer.plan(table: table, policies: reduction,
                                           readyStage: table.entries.map {
                                               // the tied decoder's part is final after the heads
                                               splitWordGradient && $0.name == "lm.embeddings.word_embeddings.weight"
                                                   ? 0 : stageIndex[BackwardStage.of($0.name)] ?? 0
                                           },
                                           capBytes: capBytes)
        return (buckets, reduction.map { $0 != .dense })
    }
}
