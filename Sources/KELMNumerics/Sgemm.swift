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
    let kp = KernelProfile.begin()
    defer { KernelProfile.endSgemm(kp, transA, transB, m: m, n: n, k: k) }
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
    /// them in parallel. When the inner dimension k dominates (the MLM head's input gradient,
    /// k = V), it is k that is split: each thread multiplies one slab of columns of op(A) by the
    /// matching rows of op(B) into its own copy of C, and the copies are added in order (every
    /// thread then packs only its part of A and B; splitting C would make each pack all of one).
    public static func run(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let threads = Parallel.threads
        if k >= 4 * max(m, n) && k >= 256 * threads {
            runSplittingK(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                          beta: beta, c: c, ldc: ldc)
            return
        }
        let splitRows = m >= n
        let side = splitRows ? m : n
        let chunks = max(1, min(threads, side / 32))
        let job = Job(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c, ldc: ldc, chunks: chunks, partial: nil)
        Parallel.run(chunks: chunks, with: job) { raw, chunk, _ in
            let j = raw.load(as: Job.self)
            let splitRows = j.m >= j.n
            let r = Parallel.piece(chunk, of: j.chunks, count: splitRows ? j.m : j.n, align: 16)
            if r.isEmpty { return }
            if splitRows {
                // rows r of op(A) and of C
                let aPart = j.transA == .none ? j.a + r.lowerBound * j.lda : j.a + r.lowerBound
                cblas_sgemm(CblasRowMajor, j.transA.cblas, j.transB.cblas,
                            Int32(r.count), Int32(j.n), Int32(j.k), j.alpha, aPart, Int32(j.lda), j.b, Int32(j.ldb),
                            j.beta, j.c + r.lowerBound * j.ldc, Int32(j.ldc))
            } else {
                // columns r of op(B) and of C
                let bPart = j.transB == .none ? j.b + r.lowerBound : j.b + r.lowerBound * j.ldb
                cblas_sgemm(CblasRowMajor, j.transA.cblas, j.transB.cblas,
                            Int32(j.m), Int32(r.count), Int32(j.k), j.alpha, j.a, Int32(j.lda), bPart, Int32(j.ldb),
                            j.beta, j.c + r.lowerBound, Int32(j.ldc))
            }
        }
    }

    /// One split product (the state of its region).
    struct Job {
        let transA: Transpose, transB: Transpose
        let m: Int, n: Int, k: Int
        let alpha: Float
        let a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int
        let beta: Float
        let c: UnsafeMutablePointer<Float>, ldc: Int
        let chunks: Int
        let partial: UnsafeMutablePointer<Float>?
    }

    /// Partial products of C for slabs of k; slab 0 goes straight into C (with beta).
    static func runSplittingK(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let chunks = Parallel.threads
        if partials.count < (chunks - 1) * m * n { partials = FlatBuffer(count: (chunks - 1) * m * n) }
        let job = Job(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c, ldc: ldc, chunks: chunks, partial: partials.pointer)
        Parallel.run(chunks: chunks, with: job) { raw, chunk, _ in
            let j = raw.load(as: Job.self)
            let r = Parallel.piece(chunk, of: j.chunks, count: j.k, align: 16)
            // columns r of op(A), rows r of op(B)
            let aPart = j.transA == .none ? j.a + r.lowerBound : j.a + r.lowerBound * j.lda
            let bPart = j.transB == .none ? j.b + r.lowerBound * j.ldb : j.b + r.lowerBound
            let out = chunk == 0 ? j.c : j.partial! + (chunk - 1) * j.m * j.n
            cblas_sgemm(CblasRowMajor, j.transA.cblas, j.transB.cblas,
                        Int32(j.m), Int32(j.n), Int32(r.count), j.alpha, aPart, Int32(j.lda), bPart, Int32(j.ldb),
                        chunk == 0 ? j.beta : 0, out, Int32(chunk == 0 ? j.ldc : j.n))
        }
        // C += the other slabs' products, in slab order; rows in parallel
        Parallel.forRanges(m, grain: max(1, ElementWise.grain / max(n, 1)), align: 1, with: job) { raw, lower, upper in
            let j = raw.load(as: Job.self)
            for i in lower..<upper {
                for part in 1..<j.chunks {
                    let src = j.partial! + (part - 1) * j.m * j.n + i * j.n, dst = j.c + i * j.ldc
                    var x = 0
                    while x + 8 <= j.n { VectorMath.store(VectorMath.load(dst + x) + VectorMath.load(src + x), dst + x); x += 8 }
                    while x < j.n { dst[x] += src[x]; x += 1 }
                }
            }
        }
    }

    /// The other slabs' partial products (grows only when a larger product is split).
    private static var partials = FlatBuffer(count: 0)
}
