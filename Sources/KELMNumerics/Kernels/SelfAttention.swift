#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Multi-head scaled dot-product self-attention with a key padding mask, as BERT computes it.
///
/// The projections are stored side by side, `qkv: [B·T, 3d]` = query | key | value, with
/// `d = heads · headDim`; one head is a column slice, passed to `sgemm` with row stride 3d,
/// so no head is ever copied.
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
        let d = heads * headDim, ld = 3 * d, T = tokens
        let scale = 1 / Float(headDim).squareRoot()
        for b in 0..<batch {
            let rows = qkv + b * T * ld
            let mask = keyMask + b * T
            for h in 0..<heads {
                let p = probs + (b * heads + h) * T * T
                sgemm(.none, .transposed, m: T, n: T, k: headDim, alpha: scale,
                      a: rows + h * headDim, lda: ld, b: rows + d + h * headDim, ldb: ld,
                      beta: 0, c: p, ldc: T)
                for i in 0..<T {
                    let row = p + i * T
                    var mx = -Float.infinity
                    for j in 0..<T where mask[j] != 0 { mx = max(mx, row[j]) }
                    var sum: Float = 0
                    for j in 0..<T {
                        if mask[j] != 0 {
                            let e = expf(row[j] - mx)
                            row[j] = e
                            sum += e
                        } else {
                            row[j] = 0
                        }
                    }
                    let inv = sum > 0 ? 1 / sum : 0
                    for j in 0..<T { row[j] *= inv }
                }
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
        }
    }

    /// Adds the gradient with respect to `qkv` into `dqkv` ([B·T, 3d]).
    /// `scratch` holds T·T floats; `dropout` is what forward was given.
    public static func backward(
        dqkv: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        dctx: UnsafePointer<Float>,
        qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>,
        dropout: (mask: UnsafePointer<Float>, dropped: UnsafeMutablePointer<Float>)?,
        batch: Int, tokens: Int, heads: Int, headDim: Int
    ) {
        let d = heads * headDim, ld = 3 * d, T = tokens
        let scale = 1 / Float(headDim).squareRoot()
        for b in 0..<batch {
            let rows = qkv + b * T * ld
            let drows = dqkv + b * T * ld
            let dc = dctx + b * T * d
            for h in 0..<heads {
                let o = (b * heads + h) * T * T
                let p = probs + o
                let used = UnsafePointer(dropout?.dropped ?? UnsafeMutablePointer(mutating: probs)) + o
                // dPd = dctx_h · V_hᵀ ; dV_h += Pdᵀ · dctx_h
                sgemm(.none, .transposed, m: T, n: T, k: headDim,
                      a: dc + h * headDim, lda: d, b: rows + 2 * d + h * headDim, ldb: ld,
                      beta: 0, c: scratch, ldc: T)
                sgemm(.transposed, .none, m: T, n: headDim, k: T,
                      a: used, lda: T, b: dc + h * headDim, ldb: d,
                      beta: 1, c: drows + 2 * d + h * headDim, ldc: ld)
                if let dropout {
                    let m = dropout.mask + o
                    for i in 0..<(T * T) { scratch[i] *= m[i] }
                }
                // softmax backward: dS = P ⊙ (dP − rowsum(dP ⊙ P)) · scale
                for i in 0..<T {
                    let pr = p + i * T, gr = scratch + i * T
                    var dot: Float = 0
                    for j in 0..<T { dot += pr[j] * gr[j] }
                    for j in 0..<T { gr[j] = pr[j] * (gr[j] - dot) * scale }
                }
                // dQ_h += dS · K_h ; dK_h += dSᵀ · Q_h
                sgemm(.none, .none, m: T, n: headDim, k: T,
                      a: scratch, lda: T, b: rows + d + h * headDim, ldb: ld,
                      beta: 1, c: drows + h * headDim, ldc: ld)
                sgemm(.transposed, .none, m: T, n: headDim, k: T,
                      a: scratch, lda: T, b: rows + h * headDim, ldb: ld,
                      beta: 1, c: drows + d + h * headDim, ldc: ld)
            }
        }
    }
}
