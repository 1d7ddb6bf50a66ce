import KELMDistributed
import KELMModel
import KELMNumerics

/// The parameter groups of DESIGN §5.
public enum ParameterGroup: String, CaseIterable, Sendable {
    case embeddings = "lm.embeddings"
    case attention = "lm.attention"
    case ffn = "lm.ffn"
    case gnn
    case mint
    case heads

    public static func of(_ name: String) -> ParameterGroup {
        if name.hasPrefix("lm.embeddings.") { return .embeddings }
        if name.hasPrefix("lm.encoder.layer.") { return name.contains(".attention.") ? .attention : .ffn }
        if name.hasPrefix("gnn.") { return .gnn }
        if name.hasPrefix("mint.") { return .mint }
        return .heads
    }
}

/// Each group's policy (dense, routed or frozen) under a preset of `train.param_policy`.
public struct GroupPolicies: Equatable, Sendable {
    public var policies: [ParameterGroup: ReductionPolicy]

    public init(preset: KELMConfig.TrainSection.ParamPolicy) {
        var p = Dictionary(uniqueKeysWithValues: ParameterGroup.allCases.map { ($0, ReductionPolicy.dense) })
        switch preset {
        case .full: break
        case .ffnRouted: p[.ffn] = .routed
        case .knowledgePaths:
            p[.embeddings] = .frozen
            p[.attention] = .frozen
            p[.ffn] = .routed
        }
        policies = p
    }

    public subscript(_ g: ParameterGroup) -> ReductionPolicy { policies[g] ?? .dense }

    /// Per table entry.
    public func perEntry(_ table: ParameterTable) -> [ReductionPolicy] {
        table.entries.map { self[ParameterGroup.of($0.name)] }
    }

    /// Where backward writes each group's gradients (nil: frozen, not computed).
    public func sinks(_ grads: UnsafeMutablePointer<Float>) -> GradientSinks {
        func sink(_ g: ParameterGroup) -> UnsafeMutablePointer<Float>? { self[g] == .frozen ? nil : grads }
        return GradientSinks(embeddings: sink(.embeddings), attention: sink(.attention), ffn: sink(.ffn),
                             heads: sink(.heads), gnn: sink(.gnn), mint: sink(.mint))
    }
}

/// Learning rate at a step: linear warm-up from 0 over `warmup` steps, then linear decay to 0
/// at `total` (Hugging Face's `get_linear_schedule_with_warmup`).
public struct LinearSchedule: Equatable, Sendable {
    public var warmup: Int
    public var total: Int

    public init(warmup: Int, total: Int) {
        self.warmup = warmup
        self.total = total
    }

    /// The multiplier of the peak learning rate for the update at `step` (0-based).
    public func factor(step: Int) -> Double {
        if step < warmup { return Double(step) / Double(max(1, warmup)) }
        return max(0, Double(total - step) / Double(max(1, total - warmup)))
    }
}
