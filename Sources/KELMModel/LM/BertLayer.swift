import KELMNumerics

/// Gradient work buffers shared by all transformer layers (backward runs one layer at a time).
public final class BertLayerScratch {
    let dLn2In: FlatBuffer, dFfnOut: FlatBuffer, dInterAct: FlatBuffer, dInterPre: FlatBuffer
    let dH1: FlatBuffer, dLn1In: FlatBuffer, dAttnProj: FlatBuffer, dCtx: FlatBuffer, dQKV: FlatBuffer
    let dScores: FlatBuffer

    public init(config c: BertConfig, maxRows: Int, maxTokens: Int) {
        let d = c.hiddenSize
        dLn2In = FlatBuffer(count: maxRows * d)
        dFfnOut = FlatBuffer(count: maxRows * d)
        dInterAct = FlatBuffer(count: maxRows * c.ffnSize)
        dInterPre = FlatBuffer(count: maxRows * c.ffnSize)
        dH1 = FlatBuffer(count: maxRows * d)
        dLn1In = FlatBuffer(count: maxRows * d)
        dAttnProj = FlatBuffer(count: maxRows * d)
        dCtx = FlatBuffer(count: maxRows * d)
        dQKV = FlatBuffer(count: maxRows * 3 * d)
        dScores = FlatBuffer(count: maxTokens * maxTokens)
        hidden = d
        dropoutTargets = c.hiddenDropout > 0 ? [dFfnOut, dAttnProj] : []
    }

    private let hidden: Int
    /// The buffers backward adds into (dropout's input gradients); the others are written
    /// whole by their first kernel (overwrite mode) and need no zeroing.
    private let dropoutTargets: [FlatBuffer]

    /// Zeroes the first `rows` rows of the gradient buffers that backward adds into.
    func zero(rows n: Int) {
        for b in dropoutTargets { ElementWise.zero(b.pointer, count: n * hidden) }
    }
}

/// One BERT encoder layer, `lm.encoder.layer.<i>` (post-LayerNorm):
/// h1 = LN(x + Dropout(W_o · Attention(x) + b_o)); out = LN(h1 + Dropout(W_2 · GELU(W_1 h1 + b_1) + b_2)).
public final class BertLayer {
    public struct Parameters {
        /// query.weight, key.weight, value.weight, declared back to back: one [3d, d] matrix.
        public let qkvWeight: ParameterRef
        /// query.bias, key.bias, value.bias, back to back: one [3d] vector.
        public let qkvBias: ParameterRef
        public let attnOutWeight: ParameterRef, attnOutBias: ParameterRef
        public let attnNormWeight: ParameterRef, attnNormBias: ParameterRef
        public let interWeight: ParameterRef, interBias: ParameterRef
        public let outWeight: ParameterRef, outBias: ParameterRef
        public let outNormWeight: ParameterRef, outNormBias: ParameterRef

        public init(_ t: inout ParameterTable, layer: Int, config c: BertConfig) throws {
            let d = c.hiddenSize
            let pre = "lm.encoder.layer.\(layer)."
            let q = try t.addWeight(pre + "attention.self.query.weight", shape: [d, d])
            try t.addWeight(pre + "attention.self.key.weight", shape: [d, d])
            try t.addWeight(pre + "attention.self.value.weight", shape: [d, d])
            qkvWeight = ParameterRef(offset: q.offset, count: 3 * d * d)
            let qb = try t.addBias(pre + "attention.self.query.bias", count: d)
            try t.addBias(pre + "attention.self.key.bias", count: d)
            try t.addBias(pre + "attention.self.value.bias", count: d)
            qkvBias = ParameterRef(offset: qb.offset, count: 3 * d)
            attnOutWeight = try t.addWeight(pre + "attention.output.dense.weight", shape: [d, d])
            attnOutBias = try t.addBias(pre + "attention.output.dense.bias", count: d)
            (attnNormWeight, attnNormBias) = try t.addLayerNorm(pre + "attention.output.LayerNorm", width: d)
            interWeight = try t.addWeight(pre + "intermediate.dense.weight", shape: [c.ffnSize, d])
            interBias = try t.addBias(pre + "intermediate.dense.bias", count: c.ffnSize)
            outWeight = try t.addWeight(pre + "output.dense.weight", shape: [d, c.ffnSize])
            outBias = try t.addBias(pre + "output.dense.bias", count: d)
            (outNormWeight, outNormBias) = try t.addLayerNorm(pre + "output.LayerNorm", width: d)
        }
    }

    public let p: Parameters
    public let index: Int
    let config: BertConfig
    // Saved activations, [rows, ·] unless noted.
    var input: UnsafePointer<Float>? = nil
    let qkv: FlatBuffer                     // [rows, 3d]
    let probs: FlatBuffer                   // [B, H, T, T]
    let probsDropped: FlatBuffer, probsMask: FlatBuffer
    let ctx: FlatBuffer                     // [rows, d]
    let attnProj: FlatBuffer, attnMask: FlatBuffer
    let ln1In: FlatBuffer, ln1Mean: FlatBuffer, ln1Rstd: FlatBuffer
    /// [rows, d] output of the attention block (input of the FFN).
    public let h1: FlatBuffer
    let interPre: FlatBuffer                // [rows, d_ff]
    /// [rows, d_ff] post-GELU intermediate activation (the neurons TRELM attributes).
    public let interAct: FlatBuffer
    let ffnOut: FlatBuffer, ffnMask: FlatBuffer
    let ln2In: FlatBuffer, ln2Mean: FlatBuffer, ln2Rstd: FlatBuffer
    /// [rows, d] the layer output.
    public let output: FlatBuffer
    private var dropoutApplied = false
    private var attentionDropoutApplied = false

    /// Knowledge-path routing of this layer's FFN (TRELM, DESIGN §5): when set, backward
    /// computes the weight gradients of the selected intermediate neurons only — rows of
    /// `intermediate.dense.weight`, elements of its bias, columns of `output.dense.weight` —
    /// and adds them, packed, into `packed`; the input gradient still flows through the whole FFN.
    public var route: FFNRoute?

    /// Integrated gradients (DESIGN §5): when set, the post-GELU activation is replaced by
    /// `alpha · values` ([rows, d_ff], the activation of an ordinary forward), and backward
    /// hands the gradient with respect to it to `gradientSink` (no weight gradients are needed).
    public var activationOverride: ActivationOverride?

    /// A layer for batches of at most `maxBatch` segments of `maxTokens` tokens; with `maxRows`,
    /// for batches of any shape B × T with B·T ≤ `maxRows` and T ≤ `maxTokens` (the entity
    /// memory's encoder: many short descriptions or few long ones).
    public init(_ p: Parameters, index: Int, config c: BertConfig, maxBatch: Int, maxTokens: Int, maxRows: Int? = nil) {
        self.p = p
        self.index = index
        config = c
        let n = maxRows ?? maxBatch * maxTokens, d = c.hiddenSize
        // [B, H, T, T] with B·T ≤ n: at most n · H · T
        let probCount = n * c.numHeads * maxTokens
        qkv = FlatBuffer(count: n * 3 * d)
        probs = FlatBuffer(count: probCount)
        probsDropped = FlatBuffer(count: c.attentionDropout > 0 ? probCount : 0)
        probsMask = FlatBuffer(count: c.attentionDropout > 0 ? probCount : 0)
        ctx = FlatBuffer(count: n * d)
        attnProj = FlatBuffer(count: n * d)
        attnMask = FlatBuffer(count: c.hiddenDropout > 0 ? n * d : 0)
        ln1In = FlatBuffer(count: n * d)
        ln1Mean = FlatBuffer(count: n)
        ln1Rstd = FlatBuffer(count: n)
        h1 = FlatBuffer(count: n * d)
        interPre = FlatBuffer(count: n * c.ffnSize)
        interAct = FlatBuffer(count: n * c.ffnSize)
        ffnOut = FlatBuffer(count: n * d)
        ffnMask = FlatBuffer(count: c.hiddenDropout > 0 ? n * d : 0)
        ln2In = FlatBuffer(count: n * d)
        ln2Mean = FlatBuffer(count: n)
        ln2Rstd = FlatBuffer(count: n)
        output = FlatBuffer(count: n * d)
    }

    /// output[B·T, d] = layer(x[B·T, d]); `x` must stay valid until backward.
    public func forward(x: UnsafePointer<Float>, batch: TokenBatch, params: UnsafeMutablePointer<Float>,
                        mode: ForwardMode, profiler: Profiler? = nil) {
        let c = config, d = c.hiddenSize, n = batch.rows, B = batch.batch, T = batch.tokens
        input = x
        profiler?.begin(.attention)
        Linear.forward(y: qkv.pointer, x: x, weight: p.qkvWeight.pointer(in: params),
                       bias: p.qkvBias.pointer(in: params), rows: n, inFeatures: d, outFeatures: 3 * d)
        let probCtx = mode.context(rate: c.attentionDropout, batch: batch)
        attentionDropoutApplied = probCtx != nil
        if let probCtx {
            Dropout.makeMask(mask: probsMask.pointer, items: B, perItem: c.numHeads * T * T,
                             site: DropoutSite.attentionProbs(index), context: probCtx)
        }
        SelfAttention.forward(ctx: ctx.pointer, probs: probs.pointer,
                              dropout: probCtx == nil ? nil : (UnsafePointer(probsMask.pointer), probsDropped.pointer),
                              qkv: qkv.pointer, keyMask: batch.attentionMask.pointer,
                              batch: B, tokens: T, heads: c.numHeads, headDim: c.headDim)
        Linear.forward(y: attnProj.pointer, x: ctx.pointer, weight: p.attnOutWeight.pointer(in: params),
                       bias: p.attnOutBias.pointer(in: params), rows: n, inFeatures: d, outFeatures: d)
        let hidCtx = mode.context(rate: c.hiddenDropout, batch: batch)
        dropoutApplied = hidCtx != nil
        if let hidCtx {
            Dropout.makeMask(mask: attnMask.pointer, items: B, perItem: T * d,
                             site: DropoutSite.attentionOutput(index), context: hidCtx)
            Dropout.forward(y: attnProj.pointer, x: attnProj.pointer, mask: attnMask.pointer, count: n * d)
        }
        ElementWise.add(y: ln1In.pointer, attnProj.pointer, x, count: n * d)
        LayerNorm.forward(y: h1.pointer, mean: ln1Mean.pointer, rstd: ln1Rstd.pointer, x: ln1In.pointer,
                          weight: p.attnNormWeight.pointer(in: params), bias: p.attnNormBias.pointer(in: params),
                          rows: n, width: d, eps: c.layerNormEps)
        profiler?.begin(.ffn)
        if let o = activationOverride {
            for i in 0..<(n * c.ffnSize) { interAct.pointer[i] = o.alpha * o.values[i] }
        } else {
            Linear.forward(y: interPre.pointer, x: h1.pointer, weight: p.interWeight.pointer(in: params),
                           bias: p.interBias.pointer(in: params), rows: n, inFeatures: d, outFeatures: c.ffnSize)
            GELU.forward(y: interAct.pointer, x: interPre.pointer, count: n * c.ffnSize)
        }
        Linear.forward(y: ffnOut.pointer, x: interAct.pointer, weight: p.outWeight.pointer(in: params),
                       bias: p.outBias.pointer(in: params), rows: n, inFeatures: c.ffnSize, outFeatures: d)
        if let hidCtx {
            Dropout.makeMask(mask: ffnMask.pointer, items: B, perItem: T * d,
                             site: DropoutSite.ffnOutput(index), context: hidCtx)
            Dropout.forward(y: ffnOut.pointer, x: ffnOut.pointer, mask: ffnMask.pointer, count: n * d)
        }
        ElementWise.add(y: ln2In.pointer, ffnOut.pointer, h1.pointer, count: n * d)
        LayerNorm.forward(y: output.pointer, mean: ln2Mean.pointer, rstd: ln2Rstd.pointer, x: ln2In.pointer,
                          weight: p.outNormWeight.pointer(in: params), bias: p.outNormBias.pointer(in: params),
                          rows: n, width: d, eps: c.layerNormEps)
        profiler?.end()
    }

    /// Inference (no dropout, nothing kept for backward) at chosen rows only: `output`'s first
    /// `rows.count` rows ([m, d]) become this layer's output at rows `rows` of the batch (indices
    /// into its B·T rows), as `forward` would compute them up to float rounding. Every row's keys
    /// and values are computed (the chosen rows attend to the whole segment); the queries, the
    /// attention output, the FFN and both LayerNorms only at the chosen rows. The entity memory
    /// reads the top LM1 layer at two rows per description (DESIGN §4), so this skips most of it.
    /// `segments` gives each chosen row's segment (rows[i] / T).
    public func forwardRows(_ rows: UnsafeBufferPointer<Int32>, segments: UnsafeBufferPointer<Int32>, x: UnsafePointer<Float>,
                            batch: TokenBatch, params: UnsafeMutablePointer<Float>) {
        let c = config, d = c.hiddenSize, n = batch.rows, m = rows.count, T = batch.tokens
        precondition(segments.count == m && m <= n, "BertLayer.forwardRows: one segment per chosen row, at most B·T rows")
        input = nil
        let qkvW = p.qkvWeight.pointer(in: params), qkvB = p.qkvBias.pointer(in: params)
        // keys and values of every row: [n, 2d] (rows d..<3d of the [3d, d] query/key/value matrix)
        let kv = qkv.pointer
        Linear.forward(y: kv, x: x, weight: qkvW + d * d, bias: qkvB + d, rows: n, inFeatures: d, outFeatures: 2 * d)
        // the chosen rows' input, and their queries
        let chosen = ln2In.pointer
        for i in 0..<m { (chosen + i * d).update(from: x + Int(rows[i]) * d, count: d) }
        Linear.forward(y: ctx.pointer, x: chosen, weight: qkvW, bias: qkvB, rows: m, inFeatures: d, outFeatures: d)
        let context = ffnOut.pointer
        SelfAttention.forwardQueries(ctx: context, q: ctx.pointer, kv: kv, keyMask: batch.attentionMask.pointer,
                                     segments: segments.baseAddress!, queries: m, tokens: T, heads: c.numHeads,
                                     headDim: c.headDim, scores: probs.pointer)
        Linear.forward(y: attnProj.pointer, x: context, weight: p.attnOutWeight.pointer(in: params),
                       bias: p.attnOutBias.pointer(in: params), rows: m, inFeatures: d, outFeatures: d)
        ElementWise.add(y: ln1In.pointer, attnProj.pointer, chosen, count: m * d)
        LayerNorm.forward(y: h1.pointer, mean: ln1Mean.pointer, rstd: ln1Rstd.pointer, x: ln1In.pointer,
                          weight: p.attnNormWeight.pointer(in: params), bias: p.attnNormBias.pointer(in: params),
                          rows: m, width: d, eps: c.layerNormEps)
        Linear.forward(y: interPre.pointer, x: h1.pointer, weight: p.interWeight.pointer(in: params),
                       bias: p.interBias.pointer(in: params), rows: m, inFeatures: d, outFeatures: c.ffnSize)
        GELU.forward(y: interAct.pointer, x: interPre.pointer, count: m * c.ffnSize)
        Linear.forward(y: ffnOut.pointer, x: interAct.pointer, weight: p.outWeight.pointer(in: params),
                       bias: p.outBias.pointer(in: params), rows: m, inFeatures: c.ffnSize, outFeatures: d)
        ElementWise.add(y: ln2In.pointer, ffnOut.pointer, h1.pointer, count: m * d)
        LayerNorm.forward(y: output.pointer, mean: ln2Mean.pointer, rstd: ln2Rstd.pointer, x: ln2In.pointer,
                          weight: p.outNormWeight.pointer(in: params), bias: p.outNormBias.pointer(in: params),
                          rows: m, width: d, eps: c.layerNormEps)
    }

    /// Adds into `dInput` the gradient for `dOutput` (both [B·T, d]) and into the parameter
    /// gradients of the groups that are not frozen (`attentionGrads`, `ffnGrads` nil = frozen).
    /// The reverse of `forward`, step by step.
    /// `dInput` nil: nothing below this layer wants a gradient (the lowest layer under frozen
    /// embeddings). With attention frozen as well, the pass then stops after the FFN's weight
    /// gradients: no input gradient of `intermediate.dense` and no attention backward.
    public func backward(dInput: UnsafeMutablePointer<Float>?, dOutput: UnsafePointer<Float>,
                         batch: TokenBatch, params: UnsafeMutablePointer<Float>,
                         attentionGrads: UnsafeMutablePointer<Float>?, ffnGrads: UnsafeMutablePointer<Float>?,
                         scratch s: BertLayerScratch, progress: BackwardProgress? = nil, profiler: Profiler? = nil) {
        let c = config, d = c.hiddenSize, n = batch.rows, B = batch.batch, T = batch.tokens
        guard let x = input else { preconditionFailure("BertLayer.backward before forward") }
        // the gradient at h1 feeds the attention block: wanted for its weights or for dInput
        let wantsH1Gradient = dInput != nil || attentionGrads != nil
        if !wantsH1Gradient && ffnGrads == nil && activationOverride == nil { return }
        s.zero(rows: n)

        profiler?.begin(.ffn)
        // output = LN(ln2In); ln2In = Dropout(ffnOut) + h1
        LayerNorm.backward(dx: s.dLn2In.pointer, dWeight: p.outNormWeight.gradient(in: ffnGrads),
                           dBias: p.outNormBias.gradient(in: ffnGrads), dy: dOutput, x: ln2In.pointer,
                           mean: ln2Mean.pointer, rstd: ln2Rstd.pointer,
                           weight: p.outNormWeight.pointer(in: params), rows: n, width: d, accumulate: false)
        ElementWise.copy(s.dH1.pointer, from: s.dLn2In.pointer, count: n * d)
        var dFfn = UnsafePointer(s.dLn2In.pointer)
        if dropoutApplied {
            Dropout.backward(dx: s.dFfnOut.pointer, dy: s.dLn2In.pointer, mask: ffnMask.pointer, count: n * d)
            dFfn = UnsafePointer(s.dFfnOut.pointer)
        }
        // ffnOut = W_2 · interAct + b_2; interAct = GELU(interPre); interPre = W_1 · h1 + b_1
        let routed = route != nil && ffnGrads != nil
        Linear.backward(dx: s.dInterAct.pointer, dWeight: routed ? nil : p.outWeight.gradient(in: ffnGrads),
                        dBias: p.outBias.gradient(in: ffnGrads), dy: dFfn, x: interAct.pointer,
                        weight: p.outWeight.pointer(in: params), rows: n, inFeatures: c.ffnSize, outFeatures: d,
                        accumulateDx: false)
        if routed, let r = route {
            // columns S of output.dense.weight: [d, k] += dFfnᵀ · interAct[:, S]
            r.gather(interAct.pointer, rows: n, width: c.ffnSize)
            sgemm(.transposed, .none, m: d, n: r.count, k: n, a: dFfn, lda: d, b: r.scratch, ldb: r.count,
                  beta: 1, c: r.outputColumns, ldc: r.count)
        }
        progress?.poll()
        if let o = activationOverride {
            // the activation is an input here: its gradient is the attribution's, and nothing
            // flows back through GELU into h1
            o.gradientSink.accumulate(gradient: s.dInterAct.pointer, rows: n, layer: index)
        } else {
            GELU.backward(dx: s.dInterPre.pointer, dy: s.dInterAct.pointer, x: interPre.pointer, y: interAct.pointer,
                          count: n * c.ffnSize, accumulate: false)
            Linear.backward(dx: wantsH1Gradient ? s.dH1.pointer : nil, dWeight: routed ? nil : p.interWeight.gradient(in: ffnGrads),
                            dBias: routed ? nil : p.interBias.gradient(in: ffnGrads), dy: s.dInterPre.pointer, x: h1.pointer,
                            weight: p.interWeight.pointer(in: params), rows: n, inFeatures: d, outFeatures: c.ffnSize)
            if routed, let r = route {
                // rows S of intermediate.dense.weight: [k, d] += dInterPre[:, S]ᵀ · h1; bias S
                r.gather(s.dInterPre.pointer, rows: n, width: c.ffnSize)
                sgemm(.transposed, .none, m: r.count, n: d, k: n, a: r.scratch, lda: r.count, b: h1.pointer, ldb: d,
                      beta: 1, c: r.intermediateRows, ldc: d)
                ColumnSum.add(into: r.intermediateBias, from: r.scratch, rows: n, columns: r.count)
            }
        }
        progress?.poll()
        guard wantsH1Gradient else {
            profiler?.end()
            return
        }

        profiler?.begin(.attention)
        // h1 = LN(ln1In); ln1In = Dropout(attnProj) + x
        LayerNorm.backward(dx: s.dLn1In.pointer, dWeight: p.attnNormWeight.gradient(in: attentionGrads),
                           dBias: p.attnNormBias.gradient(in: attentionGrads), dy: s.dH1.pointer, x: ln1In.pointer,
                           mean: ln1Mean.pointer, rstd: ln1Rstd.pointer,
                           weight: p.attnNormWeight.pointer(in: params), rows: n, width: d, accumulate: false)
        if let dInput { ElementWise.accumulate(dInput, s.dLn1In.pointer, count: n * d) }
        var dProj = UnsafePointer(s.dLn1In.pointer)
        if dropoutApplied {
            Dropout.backward(dx: s.dAttnProj.pointer, dy: s.dLn1In.pointer, mask: attnMask.pointer, count: n * d)
            dProj = UnsafePointer(s.dAttnProj.pointer)
        }
        // attnProj = W_o · ctx + b_o; ctx = Attention(qkv); qkv = W_qkv · x + b_qkv
        Linear.backward(dx: s.dCtx.pointer, dWeight: p.attnOutWeight.gradient(in: attentionGrads),
                        dBias: p.attnOutBias.gradient(in: attentionGrads), dy: dProj, x: ctx.pointer,
                        weight: p.attnOutWeight.pointer(in: params), rows: n, inFeatures: d, outFeatures: d,
                        accumulateDx: false)
        progress?.poll()
        SelfAttention.backward(dqkv: s.dQKV.pointer, scratch: s.dScores.pointer, dctx: s.dCtx.pointer,
                               qkv: qkv.pointer, probs: probs.pointer,
                               dropout: attentionDropoutApplied ? (UnsafePointer(probsMask.pointer), probsDropped.pointer) : nil,
                               batch: B, tokens: T, heads: c.numHeads, headDim: c.headDim, accumulate: false)
        Linear.backward(dx: dInput, dWeight: p.qkvWeight.gradient(in: attentionGrads),
                        dBias: p.qkvBias.gradient(in: attentionGrads), dy: s.dQKV.pointer, x: x,
                        weight: p.qkvWeight.pointer(in: params), rows: n, inFeatures: d, outFeatures: 3 * d)
        progress?.poll()
        profiler?.end()
    }
}

extension BertLayer {
    /// The lowest of `layers` (bottom to top) that must produce the gradient of its input; every
    /// layer above it must too, none below (`layers.count`: none at all). A layer's input
    /// gradient is wanted only when something below it takes a gradient — the embeddings, or a
    /// lower layer's weights or attribution sink. Under frozen embeddings the lowest layer skips
    /// its input gradient, and with frozen attention its whole attention backward.
    public static func lowestLayerWantingInputGradient(_ layers: [BertLayer], sinks: GradientSinks) -> Int {
        if sinks.embeddings != nil { return 0 }
        let lowestTakingGradient = layers.indices.first { i in
            sinks.attention != nil || sinks.ffn != nil || layers[i].activationOverride != nil
        }
        return lowestTakingGradient.map { $0 + 1 } ?? layers.count
    }
}
