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
