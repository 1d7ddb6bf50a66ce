import KELMNumerics

/// `mint`: the modality-interaction MLP shared by all fusion layers (GreaseLM):
/// a = [h_[CLS] ; x_interaction] ∈ R^{d+d_g}; a ← LN(a + W_m2 · GELU(W_m1 a + b_m1) + b_m2);
/// the result is split back into the `[CLS]` state and the interaction-node state. No dropout.
public final class MInt {
    public struct Parameters {
        public let w1: ParameterRef, b1: ParameterRef, w2: ParameterRef, b2: ParameterRef
        public let normWeight: ParameterRef, normBias: ParameterRef

        public init(_ t: inout ParameterTable, config c: FusionConfig) throws {
            let w = c.bert.hiddenSize + c.gnnHidden
            w1 = try t.addWeight("mint.0.weight", shape: [c.mintHidden, w])
            b1 = try t.addBias("mint.0.bias", count: c.mintHidden)
            w2 = try t.addWeight("mint.2.weight", shape: [w, c.mintHidden])
            b2 = try t.addBias("mint.2.bias", count: w)
            (normWeight, normBias) = try t.addLayerNorm("mint.norm", width: w)
        }
    }

    static let layerNormEps: Float = 1e-5
    public let p: Parameters
    let config: FusionConfig
    let width: Int
    // [B, ·] activations of one application (one per fusion layer)
    let a: FlatBuffer, m1: FlatBuffer, act: FlatBuffer, sum: FlatBuffer, mean: FlatBuffer, rstd: FlatBuffer, out: FlatBuffer
    let dOut: FlatBuffer, dSum: FlatBuffer, dAct: FlatBuffer, dM1: FlatBuffer

    public init(_ p: Parameters, config c: FusionConfig, maxBatch: Int) {
        self.p = p
        config = c
        width = c.bert.hiddenSize + c.gnnHidden
        a = FlatBuffer(count: maxBatch * width); m1 = FlatBuffer(count: maxBatch * c.mintHidden)
        act = FlatBuffer(count: maxBatch * c.mintHidden); sum = FlatBuffer(count: maxBatch * width)
        mean = FlatBuffer(count: maxBatch); rstd = FlatBuffer(count: maxBatch); out = FlatBuffer(count: maxBatch * width)
        dOut = FlatBuffer(count: maxBatch * width); dSum = FlatBuffer(count: maxBatch * width)
        dAct = FlatBuffer(count: maxBatch * c.mintHidden); dM1 = FlatBuffer(count: maxBatch * c.mintHidden)
    }

    /// hFused[B·T, d] = hPre with each `[CLS]` row replaced, xFused[N, d_g] = xPre with each
    /// interaction-node row replaced, by the MInt output.
    public func forward(hFused: UnsafeMutablePointer<Float>, xFused: UnsafeMutablePointer<Float>,
                        hPre: UnsafePointer<Float>, xPre: UnsafePointer<Float>,
                        text: TokenBatch, graph: GraphBatch, params: UnsafeMutablePointer<Float>) {
        let d = config.bert.hiddenSize, g = config.gnnHidden, B = text.batch, T = text.tokens, w = width
        for b in 0..<B {
            let row = a.pointer + b * w
            row.update(from: hPre + b * T * d, count: d)
            (row + d).update(from: xPre + Int(graph.nodePtr.pointer[b]) * g, count: g)
        }
        Linear.forward(y: m1.pointer, x: a.pointer, weight: p.w1.pointer(in: params), bias: p.b1.pointer(in: params),
                       rows: B, inFeatures: w, outFeatures: config.mintHidden)
        GELU.forward(y: act.pointer, x: m1.pointer, count: B * config.mintHidden)
        Linear.forward(y: sum.pointer, x: act.pointer, weight: p.w2.pointer(in: params), bias: p.b2.pointer(in: params),
                       rows: B, inFeatures: config.mintHidden, outFeatures: w)
        ElementWise.accumulate(sum.pointer, a.pointer, count: B * w)
        LayerNorm.forward(y: out.pointer, mean: mean.pointer, rstd: rstd.pointer, x: sum.pointer,
                          weight: p.normWeight.pointer(in: params), bias: p.normBias.pointer(in: params),
                          rows: B, width: w, eps: Self.layerNormEps)
        hFused.update(from: hPre, count: text.rows * d)
        xFused.update(from: xPre, count: graph.nodes * g)
        for b in 0..<B {
            (hFused + b * T * d).update(from: out.pointer + b * w, count: d)
            (xFused + Int(graph.nodePtr.pointer[b]) * g).update(from: out.pointer + b * w + d, count: g)
        }
    }

    /// Turns the gradients of the fused states into those of the pre-MInt states, in place:
    /// each `[CLS]` row of dH and each interaction row of dX is replaced by the gradient that
    /// reaches it through MInt (those rows feed nothing else). Adds the parameter gradients.
    public func backward(dH: UnsafeMutablePointer<Float>, dX: UnsafeMutablePointer<Float>,
                         text: TokenBatch, graph: GraphBatch, params: UnsafeMutablePointer<Float>,
                         grads: UnsafeMutablePointer<Float>?) {
        let d = config.bert.hiddenSize, g = config.gnnHidden, B = text.batch, T = text.tokens, w = width
        for b in 0..<B {
            let row = dOut.pointer + b * w
            row.update(from: dH + b * T * d, count: d)
            (row + d).update(from: dX + Int(graph.nodePtr.pointer[b]) * g, count: g)
        }
        dSum.pointer.update(repeating: 0, count: B * w)
        dAct.pointer.update(repeating: 0, count: B * config.mintHidden)
        dM1.pointer.update(repeating: 0, count: B * config.mintHidden)
        LayerNorm.backward(dx: dSum.pointer, dWeight: p.normWeight.gradient(in: grads), dBias: p.normBias.gradient(in: grads),
                           dy: dOut.pointer, x: sum.pointer, mean: mean.pointer, rstd: rstd.pointer,
                           weight: p.normWeight.pointer(in: params), rows: B, width: w)
        Linear.backward(dx: dAct.pointer, dWeight: p.w2.gradient(in: grads), dBias: p.b2.gradient(in: grads),
                        dy: dSum.pointer, x: act.pointer, weight: p.w2.pointer(in: params),
                        rows: B, inFeatures: config.mintHidden, outFeatures: w)
        GELU.backward(dx: dM1.pointer, dy: dAct.pointer, x: m1.pointer, count: B * config.mintHidden)
        // the residual: da = dSum + (W_m1 path); reuse dSum as da
        Linear.backward(dx: dSum.pointer, dWeight: p.w1.gradient(in: grads), dBias: p.b1.gradient(in: grads),
                        dy: dM1.pointer, x: a.pointer, weight: p.w1.pointer(in: params),
                        rows: B, inFeatures: w, outFeatures: config.mintHidden)
        for b in 0..<B {
            (dH + b * T * d).update(from: dSum.pointer + b * w, count: d)
            (dX + Int(graph.nodePtr.pointer[b]) * g).update(from: dSum.pointer + b * w + d, count: g)
        }
    }
}
