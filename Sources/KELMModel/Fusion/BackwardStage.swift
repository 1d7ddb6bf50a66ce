/// Points in the backward pass after which a set of parameter gradients is final, in the order
/// backward reaches them. The gradient reducer starts a bucket's all-reduce as soon as its
/// last stage is reached (DESIGN §5: reduction started during the backward pass).
public enum BackwardStage: Hashable, Sendable {
    /// `mlm.*` and `linkpred.*` (the tied word embeddings excepted).
    case heads
    /// `lm.encoder.layer.<i>.*`
    case lmLayer(Int)
    /// `gnn.*` and `mint.*`.
    case graph
    /// `lm.embeddings.*`, with the tied decoder's contribution.
    case embeddings

    /// The stage after which the gradient of parameter `name` is final.
    public static func of(_ name: String) -> BackwardStage { ParameterRole(name).stage }
}

/// Told by backward when a stage is complete; `poll` is called often in between (after each
/// large matrix product), so that communication in flight keeps moving.
public protocol BackwardProgress: AnyObject {
    func completed(_ stage: BackwardStage)
    func poll()
}

extension FusionModel {
    /// The stages in the order `backward` completes them.
    public var backwardStages: [BackwardStage] {
        let c = config
        var s: [BackwardStage] = [.heads]
        for i in stride(from: c.bert.numLayers - 1, through: c.firstFusionLayer, by: -1) { s.append(.lmLayer(i)) }
        s.append(.graph)
        for i in stride(from: c.firstFusionLayer - 1, through: 0, by: -1) { s.append(.lmLayer(i)) }
        s.append(.embeddings)
        return s
    }
}
