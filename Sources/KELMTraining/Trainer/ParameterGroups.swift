import KELMConfig
import KELMModel
import KELMNumerics

/// Each group's policy (dense, routed or frozen) under a preset of `train.param_policy`.
public struct GroupPolicies: Equatable, Sendable {
    public var policies: [ParameterGroup: GroupPolicy]

    public init(preset: KELMConfig.TrainSection.ParamPolicy) {
        var p = Dictionary(uniqueKeysWithValues: ParameterGroup.allCases.map { ($0, GroupPolicy.dense) })
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

    public subscript(_ g: ParameterGroup) -> GroupPolicy { policies[g] ?? .dense }

    /// Per table entry.
    public func perEntry(_ table: ParameterTable) -> [GroupPolicy] {
        table.entries.map { self[ParameterGroup.of($0.name)] }
    }

    /// Where backward writes each group's gradients (nil: frozen, not computed).
    public func sinks(_ grads: UnsafeMutablePointer<Float>) -> GradientSinks {
        func sink(_ g: ParameterGroup) -> UnsafeMutablePointer<Float>? { self[g] == .frozen ? nil : grads }
        return GradientSinks(embeddings: sink(.embeddings), attention: sink(.attention), ffn: sink(.ffn),
                             heads: sink(.heads), gnn: sink(.gnn), mint: sink(.mint))
    }
}
