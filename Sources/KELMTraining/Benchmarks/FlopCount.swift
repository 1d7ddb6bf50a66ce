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

/// FLOPs of a fusion-model training step by DESIGN §11's rule applied per node, edge and
/// scored triple, as the model is defined (not as it is computed: the key and message
/// projections are counted per edge although the implementation splits them into a per-node
/// and a per-edge-kind product). All weight gradients computed (every group dense).
public struct FusionFlopCount: Equatable, Sendable {
    public var forward: Double
    public var backward: Double
    public var total: Double { forward + backward }

    public init(config c: FusionConfig, batch: Int, tokens: Int, logitRows: Int, nodes: Int, edges: Int, positives: Int) {
        let lm = LMFlopCount(config: c.bert, batch: batch, tokens: tokens, logitRows: logitRows)
        let g = Double(c.gnnHidden), d = Double(c.bert.hiddenSize), N = Double(nodes), E = Double(edges)
        let K = Double(c.fusionLayers), F = Double(c.edgeFeatureWidth), w = d + g, dm = Double(c.mintHidden)
        // weight matrices: entries × rows they are applied to
        let nodeIn = d * g * N
        let edgeEncoder = (F * g + g * g) * E
        let gnnLayer = (2 * g * g) * N + 2 * (3 * g * g) * E + 2 * (g * g) * N
        let final = 2 * g * g * N
        let mint = 2 * w * dm * Double(batch)
        let weights = nodeIn + edgeEncoder + K * gnnLayer + final + K * mint
        // attention over edges: q·k and α·m, 2g each per edge
        let attention = K * 2 * (2 * g) * E
        // DistMult: two multiplies and one add per element of each scored triple (1 + 64 per positive)
        let triples = Double(positives) * Double(1 + 2 * LinkBatch.negativesPerSide)
        let scoring = 2 * g * triples
        forward = lm.forward + 2 * weights + attention + 2 * scoring
        backward = lm.backward + 4 * weights + 2 * attention + 4 * scoring
    }
}
