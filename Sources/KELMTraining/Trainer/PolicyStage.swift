import KELMConfig
import KELMDistributed
import KELMModel
import KELMNumerics

/// One stretch of training under one parameter policy (DESIGN §5): which groups train, which
/// tensors the optimizer updates, and how each tensor's gradient crosses the ranks. A run has
/// one stage, or two with `train.adapt_steps`: the MLM-adaptation stage under `full`, then
/// `train.param_policy`.
public struct PolicyStage {
    /// The preset of this stage.
    public let preset: KELMConfig.TrainSection.ParamPolicy
    public let policies: GroupPolicies
    /// Per table entry: left alone by AdamW (frozen, or on a knowledge path: the path
    /// selector's routed AdamW updates those).
    let frozen: [Bool]
    /// Per table entry: how the gradient exchange reduces it, and after which backward stage.
    let exchange: GradientExchange.StagePlan

    /// Whether `lm.ffn` is routed in this stage (knowledge paths).
    public var routesFFN: Bool { policies[.ffn] == .routed }
    /// Whether the word embeddings train: their input-side gradient rows are then exchanged
    /// sparsely, apart from the tied decoder's dense part.
    public var trainsEmbeddings: Bool { policies[.embeddings] != .frozen }

    /// The stage of `preset` over `table`. Under routing the knowledge-path tensors go through
    /// the path buffer (`PathSelector.isRouted`); the FFN's other tensors stay dense.
    /// `stageIndex` gives each backward stage's position in the order backward completes them.
    init(preset: KELMConfig.TrainSection.ParamPolicy, table: ParameterTable, stageIndex: [BackwardStage: Int]) {
        self.preset = preset
        let policies = GroupPolicies(preset: preset)
        self.policies = policies
        let roles = table.entries.map { ParameterRole($0.name) }
        let reduction: [ReductionPolicy] = roles.map { role in
            switch policies[role.group] {
            case .dense: return .dense
            case .frozen: return .frozen
            case .routed: return role.isOnKnowledgePath ? .routed : .dense
            }
        }
        let splitWordGradient = policies[.embeddings] != .frozen
        // the tied decoder's part of the word embeddings is final after the heads
        let ready = roles.map { splitWordGradient && $0.isWordEmbeddings ? 0 : stageIndex[$0.stage] ?? 0 }
        exchange = GradientExchange.StagePlan(reduction: reduction, readyStage: ready)
        frozen = reduction.map { $0 != .dense }
    }
}
