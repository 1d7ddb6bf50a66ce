import KELMModel

/// FLOPs of a masked-LM training step, counted as DESIGN §11 says: a multiply-add is 2 FLOP;
/// a weight matrix with P entries applied to n rows costs 2Pn forward and 4Pn backward when its
/// weight gradient is computed (2Pn when frozen); attention 4·B·T²·d forward per layer and
/// twice that backward; the MLM head 2·(d² + d·V) per computed position forward, 4· backward.
/// Element-wise work and the optimizer are not counted.
public struct LMFlopCount: Equatable, Sendable {
    public var forward: Double
    public var backward: Double
    public var total: Double { forward + backward }

    /// `frozenEmbeddings` also freezes the tied decoder (d·V); `frozenHeads` the MLM transform (d²).
    public init(config c: BertConfig, batch: Int, tokens: Int, logitRows: Int,
                frozenEmbeddings: Bool = false, frozenAttention: Bool = false, frozenFFN: Bool = false,
                frozenHeads: Bool = false) {
        let n = Double(batch * tokens), d = Double(c.hiddenSize), ff = Double(c.ffnSize), V = Double(c.vocabSize)
        let L = Double(c.numLayers)
        let attnWeights = 4 * d * d            // query, key, value, output
        let ffnWeights = 2 * d * ff            // intermediate, output
        let attnCore = 4 * Double(batch) * Double(tokens * tokens) * d
        var f = L * (2 * attnWeights * n + 2 * ffnWeights * n + attnCore)
        var b = L * ((frozenAttention ? 2 : 4) * attnWeights * n + (frozenFFN ? 2 : 4) * ffnWeights * n + 2 * attnCore)
        let m = Double(logitRows)
        f += 2 * (d * d + d * V) * m
        b += ((frozenHeads ? 2 : 4) * d * d + (frozenEmbeddings ? 2 : 4) * d * V) * m
        forward = f
        backward = b
    }
}

/// FLOPs of a fusion-model training step by DESIGN §11's rule (a weight matrix with P entries
/// applied to n rows: 2Pn forward, 4Pn backward with its input gradient, 2Pn without), applied
/// to the products the step computes, on the batch's own node, edge and triple counts:
///
/// - `gnn.node_in` on the N nodes; no input gradient (none flows into the memory M);
/// - the edge encoder on the (2R+3)·9 edge kinds (an edge's feature depends only on its kind),
///   its first matrix without input gradient (its input is one-hot);
/// - per GNN layer: query, and the node part [2d_g, 2d_g] of key|message, on the N nodes; the
///   edge part [2d_g, d_g] of key|message on the edge kinds (k_st = W_k [z_s; e_st] + b_k is
///   W_k^z z_s + W_k^e e_st: the step applies W_k^z per node and W_k^e per kind, and edges only
///   gather and add); the output MLP on the N nodes; attention q·k and α·m, 2d_g each per edge
///   forward, twice that backward;
/// - `gnn.final` on the N nodes; MInt on the B interaction rows per fusion layer;
/// - DistMult 3·d_g per scored triple forward (1 + 64 per positive), 9·d_g backward.
///
/// `modelDefined` counts instead key and message per edge on [z_s; e_st] (3d_g inputs) and the
/// edge encoder per edge, as the model is written (and as Tests/Fixtures/fusion_reference.py
/// computes it): the work of an implementation without the per-node/per-kind split.
public struct FusionFlopCount: Equatable, Sendable {
    public var forward: Double
    public var backward: Double
    public var total: Double { forward + backward }
    /// The same step counted with key, message and the edge encoder applied per edge.
    public var modelDefined: Double

    public init(config c: FusionConfig, batch: Int, tokens: Int, logitRows: Int, nodes: Int, edges: Int, positives: Int) {
        let lm = LMFlopCount(config: c.bert, batch: batch, tokens: tokens, logitRows: logitRows)
        let g = Double(c.gnnHidden), d = Double(c.bert.hiddenSize), N = Double(nodes), E = Double(edges)
        let K = Double(c.fusionLayers), F = Double(c.edgeFeatureWidth), w = d + g, dm = Double(c.mintHidden)
        let kinds = Double(c.edgeRelations * 9), B = Double(batch)
        // (entries × rows) of the matrices with an input gradient, and of those without
        let withInput = K * ((2 * g * g + 4 * g * g + 2 * g * g) * N + 2 * g * g * kinds)  // q, km node part, o1+o2; km kind part
            + g * g * kinds                                                                  // edge encoder second matrix
            + 2 * g * g * N                                                                  // final h0, hK
            + K * 2 * w * dm * B                                                             // MInt
        let withoutInput = d * g * N + F * g * kinds                                         // node_in; edge encoder first matrix
        let attention = K * 2 * (2 * g) * E
        let triples = Double(positives) * Double(1 + 2 * LinkBatch.negativesPerSide)
        forward = lm.forward + 2 * (withInput + withoutInput) + attention + 3 * g * triples
        backward = lm.backward + 4 * withInput + 2 * withoutInput + 2 * attention + 9 * g * triples
        // as written: key and message [d_g, 3d_g] each and the edge encoder on every edge
        let definedWithInput = K * ((2 * g * g + 2 * g * g) * N + 2 * 3 * g * g * E) + g * g * E + 2 * g * g * N + K * 2 * w * dm * B
        let definedWithoutInput = d * g * N + F * g * E
        modelDefined = lm.total + 6 * definedWithInput + 4 * definedWithoutInput + 3 * attention + 12 * g * triples
    }
}
