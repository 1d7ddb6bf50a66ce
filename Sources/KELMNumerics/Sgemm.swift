import CBLAS

/// Whether an operand of `sgemm` is used as stored or transposed.
public enum Transpose: Sendable {
    case none
    case transposed

    @inlinable var cblas: CBLAS_TRANSPOSE {
        self == .none ? CblasNoTrans : CblasTrans
    }
}

/// The one matrix product of the project: row-major `C = alpha · op(A) · op(B) + beta · C`.
///
/// `op(A)` is `[m, k]`, `op(B)` is `[k, n]`, `C` is `[m, n]`; `lda`, `ldb`, `ldc` are the row
/// strides of the matrices *as stored* (so a column slice of a wider matrix, such as one
/// attention head inside a `[rows, 3d]` QKV buffer, is passed with its full row stride).
///
/// With more than one compute thread (`Parallel.threads`) a large product is split into
/// blocks of rows (or of columns) of C, each computed by single-threaded OpenBLAS on one
/// thread; every element of C is still one dot product over the whole k, in OpenBLAS's order.
/// Inside a parallel region (attention's per-head products) the call runs on the calling thread.
@inlinable
public func sgemm(
    _ transA: Transpose, _ transB: Transpose,
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float,
    c: UnsafeMutablePointer<Float>, ldc: Int
) {
    precondition(m >= 0 && n >= 0 && k >= 0, "sgemm: negative dimension")
    if m == 0 || n == 0 { return }
    if Parallel.threads > 1 && !Parallel.isActive && SgemmSplit.worthSplitting(m: m, n: n, k: k) {
        SgemmSplit.run(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc)
        return
    }
    cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas,
                Int32(m), Int32(n), Int32(k),
                alpha, a, Int32(lda), b, Int32(ldb),
                beta, c, Int32(ldc))
}

/// The multi-threaded `sgemm`: blocks of C over the compute threads.
public enum SgemmSplit {
    /// Products below this many multiply-adds run whole (a region costs a few microseconds).
    public static var minimumMultiplyAdds = 1 << 20

    @inlinable
    public static func worthSplitting(m: Int, n: Int, k: Int) -> Bool {
        m * n * max(k, 1) >= minimumMultiplyAdds && max(m, n) >= 64
    }

    /// Splits the longer of C's two sides into `threads` blocks (multiples of 16) and runs
    /// them in parallel.
    public static func run(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let threads = Parallel.threads
        let splitRows = m >= n
        let side = splitRows ? m : n
        let chunks = max(1, min(threads, side / 32))
        Parallel.run(chunks: chunks) { chunk, _ in
            let r = Parallel.piece(chunk, of: chunks, count: side, align: 16)
            if r.isEmpty { return }
            if splitRows {
                // rows r of op(A) and of C
                let aPart = transA == .none ? a + r.lowerBound * lda : a + r.lowerBound
                cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas,
                            Int32(r.count), Int32(n), Int32(k), alpha, aPart, Int32(lda), b, Int32(ldb),
                            beta, c + r.lowerBound * ldc, Int32(ldc))
            } else {
                // columns r of op(B) and of C
                let bPart = transB == .none ? b + r.lowerBound : b + r.lowerBound * ldb
                cblas_sgemm(CblasRowMajor, transA.cblas, transB.cblas,
                            Int32(m), Int32(r.count), Int32(k), alpha, a, Int32(lda), bPart, Int32(ldb),
                            beta, c + r.lowerBound, Int32(ldc))
            }
        }
    }
}
