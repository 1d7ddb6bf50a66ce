/// The parameter groups of DESIGN §5.
public enum ParameterGroup: String, CaseIterable, Sendable {
    case embeddings = "lm.embeddings"
    case attention = "lm.attention"
    case ffn = "lm.ffn"
    case gnn
    case mint
    case heads

    public static func of(_ name: String) -> ParameterGroup { ParameterRole(name).group }
}

/// How a group trains (DESIGN §5): its gradients summed over the ranks and applied, applied only
/// along the knowledge paths (`lm.ffn` under TRELM routing), or not computed at all.
public enum GroupPolicy: String, Equatable, Sendable {
    case dense
    case routed
    case frozen
}

/// What a parameter's name (DESIGN §7 names, `lm.encoder.layer.3.intermediate.dense.weight`)
/// says about its part in training: its group (§5), the backward stage after which its gradient
/// is final, and whether a knowledge path routes it. The one parser of parameter names: the
/// groups, the backward stages, the reduction buckets and the path selector all read it.
public struct ParameterRole: Equatable, Sendable {
    public let group: ParameterGroup
    public let stage: BackwardStage
    /// The LM layer of an `lm.encoder.layer.<i>.*` tensor.
    public let lmLayer: Int?
    /// One of the FFN tensors a knowledge path selects neurons of: `intermediate.dense.weight`
    /// and `.bias` (rows), `output.dense.weight` (columns). `output.dense.bias` and the FFN's
    /// LayerNorm stay dense under routing.
    public let isOnKnowledgePath: Bool
    /// `lm.embeddings.word_embeddings.weight`, tied to the MLM decoder.
    public let isWordEmbeddings: Bool

    public init(_ name: String) {
        let layerPrefix = "lm.encoder.layer."
        isWordEmbeddings = name == "lm.embeddings.word_embeddings.weight"
        if name.hasPrefix("lm.embeddings.") {
            (group, stage, lmLayer, isOnKnowledgePath) = (.embeddings, .embeddings, nil, false)
        } else if name.hasPrefix(layerPrefix) {
            let rest = name.dropFirst(layerPrefix.count)
            let layer = Int(rest.prefix { $0.isNumber }) ?? 0
            let tensor = rest.drop { $0.isNumber }  // ".attention.self.query.weight", ".intermediate.dense.bias", …
            let attention = tensor.hasPrefix(".attention.")
            lmLayer = layer
            group = attention ? .attention : .ffn
            stage = .lmLayer(layer)
            isOnKnowledgePath = !attention && (tensor == ".intermediate.dense.weight" || tensor == ".intermediate.dense.bias"
                                               || tensor == ".output.dense.weight")
        } else if name.hasPrefix("gnn.") {
            (group, stage, lmLayer, isOnKnowledgePath) = (.gnn, .graph, nil, false)
        } else if name.hasPrefix("mint.") {
            (group, stage, lmLayer, isOnKnowledgePath) = (.mint, .graph, nil, false)
        } else {
            (group, stage, lmLayer, isOnKnowledgePath) = (.heads, .heads, nil, false)
        }
    }
}
