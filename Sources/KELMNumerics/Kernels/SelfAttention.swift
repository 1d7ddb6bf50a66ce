/// Multi-head scaled dot-product self-attention with a key padding mask, as BERT computes it.
///
/// The projections are stored side by side, `qkv: [B·T, 3d]` = query | key | value, with
/// `d = heads · headDim`; one head is a column slice, passed to `sgemm` with row stride 3d,
/// so no head is ever copied.
///
/// The (segment, head) pairs are independent: they are handed out to the compute threads one
/// pair at a time, each running its small products with single-threaded OpenBLAS and its
/// softmax eight lanes at a time.
public enum SelfAttention {
    /// ctx[B·T, d] = concat_h (softmax(Q_h K_hᵀ/√headDim, keys masked) ⊙ dropMask) V_h
    /// - Parameters:
    ///   - probs: [B, H, T, T], the softmax output (saved for backward).
    ///   - dropout: nil for no dropout, else `mask` [B, H, T, T] (scale factors) and `dropped`
    ///     [B, H, T, T] where `probs ⊙ mask` is saved for backward.
    ///   - keyMask: [B, T], nonzero for real tokens.
    public static func forward(
        ctx: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
        dropout: (mask: UnsafePointer<Float>, dropped: UnsafeMutablePointer<Float>)?,
        qkv: UnsafePointer<Float>, keyMask: UnsafePointer<Int32>,
        batch: Int, tokens: Int, heads: Int, headDim: Int
    ) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.attention, kp) }
        typealias State = (ctx: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
                           dropout: (mask: UnsafePointer<Float>, dropped: UnsafeMutablePointer<Float>)?,
                           qkv: UnsafePointer<Float>, keyMask: UnsafePointer<Int32>, tokens: Int, heads: Int, headDim: Int)
        Parallel.run(chunks: batch * heads, with: State(ctx, probs, dropout, qkv, keyMask, tokens, heads, headDim)) { raw, pair, _ in
            let s = raw.load(as: State.self)
            SelfAttention.forwardPair(pair, ctx: s.ctx, probs: s.probs, dropout: s.dropout, qkv: s.qkv, keyMask: s.keyMask,
                                      tokens: s.tokens, heads: s.heads, headDim: s.headDim)
        }
    }

    /// One (segment, head) pair of `forward`.
    static func forwardPair(
        _ pair: Int, ctx: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
        dropout: (mask: UnsafePointer<Float>, dropped: UnsafeMutablePointer<Float>)?,
        qkv: UnsafePointer<Float>, keyMask: UnsafePointer<Int32>, tokens: Int, heads: Int, headDim: Int
    ) {
        let d = heads * headDim, ld = 3 * d, T = tokens
        let scale = 1 / Float(headDim).squareRoot()
        let b = pair / heads, h = pair % heads
        let rows = qkv + b * T * ld
        let mask = keyMask + b * T
        let p = probs + (b * heads + h) * T * T
        sgemm(.none, .transposed, m: T, n: T, k: headDim, alpha: scale,
              a: rows + h * headDim, lda: ld, b: rows + d + h * headDim, ldb: ld,
              beta: 0, c: p, ldc: T)
        for i in 0..<T { maskedSoftmax(p + i * T, mask, T) }
        var used = UnsafePointer(p)
        if let dropout {
            let o = (b * heads + h) * T * T
            Dropout.forward(y: dropout.dropped + o, x: p, mask: dropout.mask + o, count: T * T)
            used = UnsafePointer(dropout.dropped + o)
        }
        sgemm(.none, .none, m: T, n: headDim, k: T,
              a: used, lda: T, b: rows + 2 * d + h * headDim, ldb: ld,
              beta: 0, c: ctx + b * T * d + h * headDim, ldc: d)
    }

    /// Inference attention for chosen query rows only: for query i of segment `segments[i]`,
    /// ctx[i] = Σ_j softmax_j(q_i · k_j / √headDim) v_j per head, over the keys of its segment with
    /// mask ≠ 0, exactly as `forward` computes that row. `q` is [m, d]; `kv` [B·T, 2d] holds each
    /// row's keys then values; `scores` holds `tokens` floats.
    public static func forwardQueries(
        ctx: UnsafeMutablePointer<Float>, q: UnsafePointer<Float>, kv: UnsafePointer<Float>,
        keyMask: UnsafePointer<Int32>, segments: UnsafePointer<Int32>, queries m: Int,
        tokens: Int, heads: Int, headDim: Int, scores: UnsafeMutablePointer<Float>
    ) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.attention, kp) }
        let d = heads * headDim, T = tokens
        let scale = 1 / Float(headDim).squareRoot()
        for i in 0..<m {
            let b = Int(segments[i])
            let keys = kv + b * T * 2 * d, mask = keyMask + b * T
            for h in 0..<heads {
                let qi = q + i * d + h * headDim
                for j in 0..<T {
                    let kj = keys + j * 2 * d + h * headDim
                    var acc = VectorMath.V()
                    var c = 0
                    while c + 8 <= headDim { acc += VectorMath.load(qi + c) * VectorMath.load(kj + c); c += 8 }
                    var dot = VectorMath.sum(acc)
                    while c < headDim { dot += qi[c] * kj[c]; c += 1 }
                    scores[j] = dot * scale
                }
                maskedSoftmax(scores, mask, T)
                let out = ctx + i * d + h * headDim
                out.update(repeating: 0, count: headDim)
                for j in 0..<T where scores[j] != 0 {
                    let vj = keys + j * 2 * d + d + h * headDim, p = VectorMath.V(repeating: scores[j])
                    var c = 0
                    while c + 8 <= headDim { VectorMath.store(VectorMath.load(out + c) + p * VectorMath.load(vj + c), out + c); c += 8 }
                    while c < headDim { out[c] += scores[j] * vj[c]; c += 1 }
                }
            }
        }
    }

    /// row ← softmax(row) over the keys with mask ≠ 0; masked keys get 0 (a row with no key
    /// left is all 0).
    @inline(__always)
    static func maskedSoftmax(_ row: UnsafeMutablePointer<Float>, _ mask: UnsafePointer<Int32>, _ T: Int) {
        let zero = SIMD8<Int32>()
        var mxV = VectorMath.V(repeating: -.infinity)
        var j = 0
        while j + 8 <= T {
            let keep = UnsafeRawPointer(mask + j).loadUnaligned(as: SIMD8<Int32>.self) .!= zero
            let v = VectorMath.load(row + j)
            mxV.replace(with: v, where: keep .& (v .> mxV))
            j += 8
        }
        var mx = VectorMath.max(mxV)
        while j < T {
            if mask[j] != 0 { mx = max(mx, row[j]) }
            j += 1
        }
        let m = VectorMath.V(repeating: mx)
        var acc = VectorMath.V()
        j = 0
        while j + 8 <= T {
            let keep = UnsafeRawPointer(mask + j).loadUnaligned(as: SIMD8<Int32>.self) .!= zero
            let e = VectorMath.exp(VectorMath.load(row + j) - m).replacing(with: 0, where: .!keep)
            VectorMath.store(e, row + j)
            acc += e
            j += 8
        }
        var sum = VectorMath.sum(acc)
        while j < T {
            if mask[j] != 0 {
                let e = VectorMath.exp(row[j] - mx)
                row[j] = e
                sum += e
            } else {
                row[j] = 0
            }
            j += 1
        }
        let inv: Float = sum > 0 ? 1 / sum : 0
        j = 0
        while j + 8 <= T { VectorMath.store(VectorMath.load(row + j) * inv, row + j); j += 8 }
        while j < T { row[j] *= inv; j += 1 }
    }

    /// Adds the gradient with respect to `qkv` into `dqkv` ([B·T, 3d]), or with `accumulate`
    /// false writes it there (every element of the first B·T rows is written once; no zeroing
    /// needed). `scratch` holds T·T floats (with several compute threads each thread uses its
    /// own, from `Parallel.scratch`); `dropout` is what forward was given.
    public static func backward(
        dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        dctx: UnsafePointer<Float>,
        qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        dropout: (mask: UnsafePointer<Float>, dropped: UnsafeMutablePointer<Float>)?,
        batch: Int, tokens: Int, heads: Int, headDim: Int, accumulate: Bool = true
    ) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.attention, kp) }
        let T = tokens
        let parallel = Parallel.threads > 1 && !Parallel.isActive && batch * heads > 1
        let scratches = parallel ? Parallel.scratch(Parallel.threads * T * T) : scratch
        typealias State = (dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, perThread: Int,
                           dctx: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                           dropout: (mask: UnsafePointer<Float>, dropped: UnsafeMutablePointer<Float>)?,
                           tokens: Int, heads: Int, headDim: Int, accumulate: Bool)
        let state = State(dqkv, scratches, parallel ? T * T : 0, dctx, qkv, probs, dropout, tokens, heads, headDim, accumulate)
        Parallel.run(chunks: batch * heads, with: state) { raw, pair, thread in
            let s = raw.load(as: State.self)
            SelfAttention.backwardPair(pair, dqkv: s.dqkv, work: s.scratch + thread * s.perThread, dctx: s.dctx, qkv: s.qkv,
                                       probs: s.probs, dropout: s.dropout, tokens: s.tokens, heads: s.heads,
                                       headDim: s.headDim, accumulate: s.accumulate)
        }
    }

    /// One (segment, head) pair of `backward`; `work` holds T·T floats.
    static func backwardPair(
        _ pair: Int, dqkv: UnsafeMutablePointer<Float>, work: UnsafeMutablePointer<Float>,
        dctx: UnsafePointer<Float>, qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        dropout: (mask: UnsafePointer<Float>, dropped: UnsafeMutablePointer<Float>)?,
        tokens: Int, heads: Int, headDim: Int, accumulate: Bool
    ) {
        let d = heads * headDim, ld = 3 * d, T = tokens
        let scale = 1 / Float(headDim).squareRoot()
        let beta: Float = accumulate ? 1 : 0
        let b = pair / heads, h = pair % heads
        let rows = qkv + b * T * ld
        let drows = dqkv + b * T * ld
        let dc = dctx + b * T * d
        let o = (b * heads + h) * T * T
        let p = probs + o
        let used = UnsafePointer(dropout?.dropped ?? UnsafeMutablePointer(mutating: probs)) + o
        // dPd = dctx_h · V_hᵀ ; dV_h += Pdᵀ · dctx_h
        sgemm(.none, .transposed, m: T, n: T, k: headDim,
              a: dc + h * headDim, lda: d, b: rows + 2 * d + h * headDim, ldb: ld,
              beta: 0, c: work, ldc: T)
        sgemm(.transposed, .none, m: T, n: headDim, k: T,
              a: used, lda: T, b: dc + h * headDim, ldb: d,
              beta: beta, c: drows + 2 * d + h * headDim, ldc: ld)
        if let dropout {
            let m = dropout.mask + o
            var i = 0
            while i + 8 <= T * T { VectorMath.store(VectorMath.load(work + i) * VectorMath.load(m + i), work + i); i += 8 }
            while i < T * T { work[i] *= m[i]; i += 1 }
        }
        // softmax backward: dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale
        for i in 0..<T {
            let pr = p + i * T, gr = work + i * T
            var acc = VectorMath.V()
            var j = 0
            while j + 8 <= T { acc += VectorMath.load(pr + j) * VectorMath.load(gr + j); j += 8 }
            var dot = VectorMath.sum(acc)
            while j < T { dot += pr[j] * gr[j]; j += 1 }
            j = 0
            while j + 8 <= T {
                VectorMath.store(VectorMath.load(pr + j) * (VectorMath.load(gr + j) - dot) * scale, gr + j)
                j += 8
            }
            while j < T { gr[j] = pr[j] * (gr[j] - dot) * scale; j += 1 }
        }
        // dQ_h += dS · K_h ; dK_h += dSᵀ · Q_h
        sgemm(.none, .none, m: T, n: headDim, k: T,
              a: work, lda: T, b: rows + d + h * headDim, ldb: ld,
              beta: beta, c: drows + h * headDim, ldc: ld)
        sgemm(.transposed, .none, m: T, n: headDim, k: T,
              a: work, lda: T, b: rows + h * headDim, ldb: ld,
              beta: beta, c: drows + d + h * headDim, ldc: ld)
    }
}
