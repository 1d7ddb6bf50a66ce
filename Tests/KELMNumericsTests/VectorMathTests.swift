#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import XCTest
import KELMNumerics

/// The polynomial exp and erf of the element-wise kernels against float64, over dense sweeps.
final class VectorMathTests: XCTestCase {
    /// About `samples` floats of each sign in [lo, hi] evenly spaced in bit pattern (so every
    /// binade gets its share), and `samples` evenly spaced in value.
    func sweep(_ lo: Float, _ hi: Float, samples: Int = 150_000, _ body: (Float) -> Void) {
        func run(from a: Float, to b: Float, negate: Bool) {
            // a, b ≥ 0
            let ua = a.bitPattern, ub = b.bitPattern
            let step = max(1, (ub - ua) / UInt32(samples))
            var u = ua
            while u <= ub {
                let x = Float(bitPattern: u)
                body(negate ? -x : x)
                let (next, overflow) = u.addingReportingOverflow(step)
                if overflow { break }
                u = next
            }
        }
        if hi > 0 { run(from: max(lo, 0), to: hi, negate: false) }
        if lo < 0 { run(from: max(-hi, 0), to: -lo, negate: true) }
        // and evenly spaced in value (the large magnitudes, where the polynomials switch)
        for i in 0...samples { body(lo + (hi - lo) * Float(i) / Float(samples)) }
    }

    func testExpWithinOneUlp() {
        var worst = 0.0
        sweep(-87.3, 88) { x in
            let ref = exp(Double(x))
            let ours = Double(VectorMath.exp(x))
            worst = max(worst, abs(ours - ref) / Double(Float(ref).ulp))
        }
        XCTAssertLessThanOrEqual(worst, 1.0, "exp: \(worst) ulp")
        XCTAssertEqual(VectorMath.exp(0), 1)
        XCTAssertEqual(VectorMath.exp(-100), 0)
        XCTAssertEqual(VectorMath.exp(-Float.infinity), 0)
        XCTAssertTrue(VectorMath.exp(Float.nan).isNaN)
    }

    /// Relative error below 1e-7 for every normal float in [−6, 6] (sampled), and ±1 beyond.
    func testErfRelativeErrorBelow1e7() {
        var worstRelative = 0.0, worstUlp = 0.0
        sweep(-6, 6) { x in
            guard abs(x) > 1e-30 else { return }
            let ref = erf(Double(x))
            let ours = Double(VectorMath.erf(x))
            worstRelative = max(worstRelative, abs(ours - ref) / abs(ref))
            worstUlp = max(worstUlp, abs(ours - ref) / Double(Float(ref).ulp))
        }
        XCTAssertLessThan(worstRelative, 1e-7, "erf: relative \(worstRelative), \(worstUlp) ulp")
        XCTAssertEqual(VectorMath.erf(0), 0)
        XCTAssertEqual(VectorMath.erf(5), 1)
        XCTAssertEqual(VectorMath.erf(-5), -1)
        XCTAssertEqual(VectorMath.erf(.infinity), 1)
        XCTAssertTrue(VectorMath.erf(Float.nan).isNaN)
        // as accurate as the C library's erff, which the kernels used before
        var worstC = 0.0
        sweep(-6, 6) { x in
            guard abs(x) > 1e-30 else { return }
            worstC = max(worstC, abs(Double(erff(x)) - erf(Double(x))) / Double(Float(erf(Double(x))).ulp))
        }
        XCTAssertLessThanOrEqual(worstUlp, max(1.5, worstC + 0.5))
    }

    /// The lanes of the vector functions are the scalar ones.
    /// Σ x² in the kernel's order against float64, for lengths around the 32- and 8-element blocks.
    func testSumOfSquares() {
        for count in [1, 7, 8, 31, 32, 33, 100, 1001] {
            let x = (0..<count).map { Float(sin(Double($0) * 0.7)) * 3 }
            let exact = x.reduce(0.0) { $0 + Double($1) * Double($1) }
            let got = x.withUnsafeBufferPointer { VectorMath.sumOfSquares($0.baseAddress!, count: count) }
            XCTAssertEqual(Double(got), exact, accuracy: 1e-6 * max(exact, 1), "count \(count)")
        }
    }

    func testLanesAgree() {
        let x = VectorMath.V(-3.5, -1.2, -0.3, 0, 0.7, 1.0, 2.5, 4.2)
        let e = VectorMath.exp(x), f = VectorMath.erf(x)
        for i in 0..<8 {
            XCTAssertEqual(e[i], VectorMath.exp(x[i]))
            XCTAssertEqual(f[i], VectorMath.erf(x[i]))
        }
    }
}
