import XCTest
import KELMNumerics
import KELMTestSupport

final class SgemmTests: XCTestCase {
    /// All four transpose combinations, with row strides wider than the matrices,
    /// against a naive triple loop.
    func testAgainstNaiveProductWithStrides() {
        var rng = TestRandom(seed: 20)
        let m = 5, n = 4, k = 3
        for ta in [Transpose.none, .transposed] {
            for tb in [Transpose.none, .transposed] {
                let (ar, ac) = ta == .none ? (m, k) : (k, m)
                let (br, bc) = tb == .none ? (k, n) : (n, k)
                let lda = ac + 2, ldb = bc + 1, ldc = n + 3
                let a = rng.buffer(ar * lda), b = rng.buffer(br * ldb), c = rng.buffer(m * ldc)
                let c0 = c.toArray()
                sgemm(ta, tb, m: m, n: n, k: k, alpha: 0.5, a: a.pointer, lda: lda, b: b.pointer, ldb: ldb,
                      beta: 2, c: c.pointer, ldc: ldc)
                for i in 0..<m {
                    for j in 0..<n {
                        var s: Float = 0
                        for p in 0..<k {
                            let av = ta == .none ? a.pointer[i * lda + p] : a.pointer[p * lda + i]
                            let bv = tb == .none ? b.pointer[p * ldb + j] : b.pointer[j * ldb + p]
                            s += av * bv
                        }
                        XCTAssertEqual(c.pointer[i * ldc + j], 0.5 * s + 2 * c0[i * ldc + j], accuracy: 1e-4, "\(ta) \(tb)")
                    }
                    // columns beyond n are untouched
                    XCTAssertEqual(c.pointer[i * ldc + n], c0[i * ldc + n])
                }
            }
        }
    }
}
