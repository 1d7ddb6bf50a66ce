#if canImport(Glibc)
import Glibc
#endif
import KELMNumerics

/// `linkpred`: DistMult on LayerNorm-ed final node states with DRAGON's self-adversarial loss
/// (DESIGN §2, §3): s(h,r,t) = Σ (n̂_h/√d_g) ⊙ w_r ⊙ n̂_t, and per positive
/// ½[−log σ(s⁺) − Σ_k p_k log σ(−s⁻_k)] + 0.01 ‖w_r‖²/d_g, p = softmax(s⁻) over its 64
/// negatives, held constant. The sum over positives is divided by the global positive count P.
public final class LinkPredictionHead {
    public struct Parameters {
        public let normWeight: ParameterRef, normBias: ParameterRef, relation: ParameterRef

        public init(_ t: inout ParameterTable, config c: FusionConfig) throws {
            (normWeight, normBias) = try t.addLayerNorm("linkpred.norm", width: c.gnnHidden)
            // its own L2 term replaces weight decay (DESIGN §5)
            relation = try t.add("linkpred.relation.weight", shape: [c.numRelations, c.gnnHidden],
                                 initialization: .normal(std: 0.02), weightDecay: false)
        }
    }

    static let layerNormEps: Float = 1e-5
    public static let relationRegularization = 0.01
    public let p: Parameters
    let config: FusionConfig
    var input: UnsafePointer<Float>? = nil
    let mean: FlatBuffer, rstd: FlatBuffer
    /// [N, d_g] n̂
    public let normed: FlatBuffer
    let dNormed: FlatBuffer
    /// [P] positive scores; [P, 64] negative scores (32 head-side, then 32 tail-side).
    public let positiveScores: FlatBuffer, negativeScores: FlatBuffer
    let negativeWeights: FlatBuffer
    /// When true, forward keeps the self-adversarial weights p of the previous forward instead
    /// of recomputing them: the loss as a function of the parameters then has exactly the
    /// gradient backward computes (p is a constant there, like PyTorch's `detach`). For
    /// gradient checks only.
    public var holdsAdversarialWeights = false

    public init(_ p: Parameters, config c: FusionConfig, maxNodes: Int, maxPositives: Int) {
        self.p = p
        config = c
        mean = FlatBuffer(count: maxNodes); rstd = FlatBuffer(count: maxNodes)
        normed = FlatBuffer(count: maxNodes * c.gnnHidden); dNormed = FlatBuffer(count: maxNodes * c.gnnHidden)
        positiveScores = FlatBuffer(count: maxPositives)
        negativeScores = FlatBuffer(count: maxPositives * 2 * LinkBatch.negativesPerSide)
        negativeWeights = FlatBuffer(count: maxPositives * 2 * LinkBatch.negativesPerSide)
    }

    @inline(__always)
    func score(_ h: Int, _ r: Int, _ t: Int, _ w: UnsafePointer<Float>) -> Float {
        let g = config.gnnHidden
        let a = normed.pointer + h * g, b = normed.pointer + t * g, wr = w + r * g
        var s: Float = 0
        for c in 0..<g { s += a[c] * wr[c] * b[c] }
        return s / Float(g).squareRoot()
    }

    /// log σ(x), computed stably.
    @inline(__always)
    static func logSigmoid(_ x: Float) -> Double {
        let v = Double(x)
        return v >= 0 ? -log1p(exp(-v)) : v - log1p(exp(v))
    }

    /// Returns the summed (un-normalised) loss over this micro-batch's positives.
    public func forward(nodeStates: UnsafePointer<Float>, nodes N: Int, links: LinkBatch,
                        params: UnsafeMutablePointer<Float>) -> Double {
        let g = config.gnnHidden, K = LinkBatch.negativesPerSide
        input = nodeStates
        LayerNorm.forward(y: normed.pointer, mean: mean.pointer, rstd: rstd.pointer, x: nodeStates,
                          weight: p.normWeight.pointer(in: params), bias: p.normBias.pointer(in: params),
                          rows: N, width: g, eps: Self.layerNormEps)
        let w = UnsafePointer(p.relation.pointer(in: params))
        var total = 0.0
        for i in 0..<links.count {
            let h = Int(links.positives.pointer[3 * i]), r = Int(links.positives.pointer[3 * i + 1])
            let t = Int(links.positives.pointer[3 * i + 2])
            let sPos = score(h, r, t, w)
            positiveScores.pointer[i] = sPos
            let neg = negativeScores.pointer + i * 2 * K, pk = negativeWeights.pointer + i * 2 * K
            var mx = -Float.infinity
            for k in 0..<K {
                neg[k] = score(Int(links.negativeHeads.pointer[i * K + k]), r, t, w)
                neg[K + k] = score(h, r, Int(links.negativeTails.pointer[i * K + k]), w)
            }
            if !holdsAdversarialWeights {
                for k in 0..<(2 * K) { mx = max(mx, neg[k]) }
                var z: Float = 0
                for k in 0..<(2 * K) { pk[k] = expf(neg[k] - mx); z += pk[k] }
                for k in 0..<(2 * K) { pk[k] /= z }
            }
            var negTerm = 0.0
            for k in 0..<(2 * K) { negTerm -= Double(pk[k]) * Self.logSigmoid(-neg[k]) }
            var norm2 = 0.0
            for c in 0..<g { norm2 += Double(w[r * g + c]) * Double(w[r * g + c]) }
            total += 0.5 * (-Self.logSigmoid(sPos) + negTerm) + Self.relationRegularization * norm2 / Double(g)
        }
        return total
    }

    /// Adds into dNodeStates ([N, d_g]) and the parameter gradients the derivative of
    /// `scale · lossSum` (scale = w_lp / global positive count).
    public func backward(dNodeStates: UnsafeMutablePointer<Float>, nodes N: Int, links: LinkBatch, scale: Float,
                         params: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>?) {
        guard let x = input else { preconditionFailure("LinkPredictionHead.backward before forward") }
        let g = config.gnnHidden, K = LinkBatch.negativesPerSide
        let w = p.relation.pointer(in: params), dw = p.relation.gradient(in: grads)
        let invRoot = 1 / Float(g).squareRoot()
        dNormed.pointer.update(repeating: 0, count: N * g)
        // ds/dn̂_h = w ⊙ n̂_t/√g, ds/dn̂_t = w ⊙ n̂_h/√g, ds/dw = n̂_h ⊙ n̂_t/√g
        func addScoreGradient(_ h: Int, _ r: Int, _ t: Int, _ coefficient: Float) {
            let a = normed.pointer + h * g, b = normed.pointer + t * g, wr = w + r * g
            let da = dNormed.pointer + h * g, db = dNormed.pointer + t * g
            let c0 = coefficient * invRoot
            for c in 0..<g {
                da[c] += c0 * wr[c] * b[c]
                db[c] += c0 * wr[c] * a[c]
            }
            if let dw {
                let dwr = dw + r * g
                for c in 0..<g { dwr[c] += c0 * a[c] * b[c] }
            }
        }
        for i in 0..<links.count {
            let h = Int(links.positives.pointer[3 * i]), r = Int(links.positives.pointer[3 * i + 1])
            let t = Int(links.positives.pointer[3 * i + 2])
            // d/ds⁺ of −½ log σ(s⁺) = −½ σ(−s⁺)
            let sPos = positiveScores.pointer[i]
            addScoreGradient(h, r, t, scale * -0.5 / (1 + expf(sPos)))
            let neg = negativeScores.pointer + i * 2 * K, pk = negativeWeights.pointer + i * 2 * K
            for k in 0..<(2 * K) {
                // d/ds⁻ of −½ p_k log σ(−s⁻) = ½ p_k σ(s⁻)
                let coefficient = scale * 0.5 * pk[k] / (1 + expf(-neg[k]))
                if k < K {
                    addScoreGradient(Int(links.negativeHeads.pointer[i * K + k]), r, t, coefficient)
                } else {
                    addScoreGradient(h, r, Int(links.negativeTails.pointer[i * K + k - K]), coefficient)
                }
            }
            if let dw {
                let coefficient = scale * Float(2 * Self.relationRegularization) / Float(g)
                for c in 0..<g { dw[r * g + c] += coefficient * w[r * g + c] }
            }
        }
        LayerNorm.backward(dx: dNodeStates, dWeight: p.normWeight.gradient(in: grads), dBias: p.normBias.gradient(in: grads),
                           dy: dNormed.pointer, x: x, mean: mean.pointer, rstd: rstd.pointer,
                           weight: p.normWeight.pointer(in: params), rows: N, width: g)
    }
}
