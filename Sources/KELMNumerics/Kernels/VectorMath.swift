/// Eight-lane float math for the element-wise kernels: loads and stores, and `exp` and `erf`
/// as polynomials (the C library's `expf`/`erff` are scalar calls that do not vectorise).
///
/// Every step is a separate multiply and add, as written (Swift does not contract them into
/// FMAs), so the x86-64-v3 build (one AVX instruction per eight lanes) and the baseline build (two
/// SSE halves) compute the same values. Accuracy, measured against float64 over dense sweeps
/// (Tests/KELMNumericsTests/VectorMathTests.swift):
/// - `exp`: ≤ 1 ulp on [−87.3, 88]; 0 below −87.33 (where expf is denormal or 0); NaN stays NaN.
/// - `erf`: relative error < 1e-7 (≤ 1.4 ulp) everywhere; |x| ≥ 3.9375 gives ±1 exactly as
///   float32 rounding does.
public enum VectorMath {
    public typealias V = SIMD8<Float>
    public static let width = 8

    @inline(__always) @inlinable
    public static func load(_ p: UnsafePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always) @inlinable
    public static func load(_ p: UnsafeMutablePointer<Float>) -> V {
        UnsafeRawPointer(p).loadUnaligned(as: V.self)
    }

    @inline(__always) @inlinable
    public static func store(_ v: V, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: V.self)
    }

    /// Sum of the lanes (a fixed pairwise order).
    @inline(__always) @inlinable
    public static func sum(_ v: V) -> Float {
        let a = v.lowHalf + v.highHalf
        let b = a.lowHalf + a.highHalf
        return b[0] + b[1]
    }

    /// Largest lane (NaN lanes ignored unless all are NaN).
    @inline(__always) @inlinable
    public static func max(_ v: V) -> Float {
        var m = v[0]
        for i in 1..<8 where v[i] > m || m != m { m = v[i] }
        return m
    }

    /// Σ p[i] over 0..<count.
    @inlinable
    public static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var a0 = V(), a1 = V()
        var i = 0
        while i + 16 <= count {
            a0 += load(p + i)
            a1 += load(p + i + 8)
            i += 16
        }
        if i + 8 <= count { a0 += load(p + i); i += 8 }
        var s = sum(a0 + a1)
        while i < count { s += p[i]; i += 1 }
        return s
    }

    /// Σ p[i]² over 0..<count, eight lanes and four accumulators at a time (a fixed order).
    @inlinable
    public static func sumOfSquares(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var a0 = V(), a1 = V(), a2 = V(), a3 = V()
        var i = 0
        while i + 32 <= count {
            let x0 = load(p + i), x1 = load(p + i + 8), x2 = load(p + i + 16), x3 = load(p + i + 24)
            a0 += x0 * x0
            a1 += x1 * x1
            a2 += x2 * x2
            a3 += x3 * x3
            i += 32
        }
        while i + 8 <= count { let x = load(p + i); a0 += x * x; i += 8 }
        var s = sum((a0 + a1) + (a2 + a3))
        while i < count { s += p[i] * p[i]; i += 1 }
        return s
    }

    // exp: x = n·ln2 + r, |r| ≤ ln2/2; e^r = 1 + r + r²·P(r) (minimax, relative); × 2^n.
    @usableFromInline static let log2e: Float = 1.442_695_040_888_963_4
    @usableFromInline static let ln2Hi: Float = 0.693_359_375
    @usableFromInline static let ln2Lo: Float = -2.121_944_4e-4
    @usableFromInline static let roundMagic: Float = 12_582_912  // 1.5 · 2²³
    @usableFromInline static let e0: Float = 0.5
    @usableFromInline static let e1: Float = 0.166_666_656_732_559_2
    @usableFromInline static let e2: Float = 0.041_666_295_379_400_25
    @usableFromInline static let e3: Float = 0.008_333_496_749_401_093
    @usableFromInline static let e4: Float = 0.001_394_464_867_189_526_6
    @usableFromInline static let e5: Float = 0.000_197_903_529_624_454_68

    /// e^x lane-wise, for x ≤ 88 (larger x are treated as 88); x < −87.33 gives 0.
    @_transparent
    public static func exp(_ x: V) -> V {
        let tooSmall = x .< -87.33
        var x = x.replacing(with: 88, where: x .> 88)
        x.replace(with: -87.33, where: tooSmall)
        let t = x * log2e + roundMagic
        let n = t - roundMagic
        var r = x - n * ln2Hi
        r = r - n * ln2Lo
        var p = V(repeating: e5)
        p = p * r + e4
        p = p * r + e3
        p = p * r + e2
        p = p * r + e1
        p = p * r + e0
        p = (r * r) * p + r
        p = p + 1
        // the low mantissa bits of t hold n (|n| ≤ 127): 2^n = (n + 127) << 23
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
        let scale = unsafeBitCast((ni &+ 127) &<< 23, to: V.self)
        return (p * scale).replacing(with: 0, where: tooSmall)
    }

    // erf, |x| ≤ 1: x + x·R(x²) (minimax, relative); 1 < |x| < 3.9375: 1 − e^{Q(|x|)} with
    // Q ≈ log erfc (minimax, absolute); beyond, ±1.
    @usableFromInline static let r0: Float = 0.128_379_166_126_251_22
    @usableFromInline static let r1: Float = -0.376_126_259_565_353_4
    @usableFromInline static let r2: Float = 0.112_835_854_291_915_9
    @usableFromInline static let r3: Float = -0.026_853_809_133_172_035
    @usableFromInline static let r4: Float = 0.005_188_323_557_376_862
    @usableFromInline static let r5: Float = -0.000_801_015_878_096_222_9
    @usableFromInline static let r6: Float = 7.853_754_505_049_437e-05
    @usableFromInline static let q0: Float = 0.000_304_012_559_354_305_27
    @usableFromInline static let q1: Float = -1.130_172_848_701_477
    @usableFromInline static let q2: Float = -0.631_921_350_955_963_1
    @usableFromInline static let q3: Float = -0.109_997_898_340_225_22
    @usableFromInline static let q4: Float = 0.026_378_612_965_345_383
    @usableFromInline static let q5: Float = -0.004_746_064_543_724_06
    @usableFromInline static let q6: Float = 0.000_594_216_631_725_430_5
    @usableFromInline static let q7: Float = -4.578_559_310_175_478_5e-05
    @usableFromInline static let q8: Float = 1.625_079_789_846_495_3e-06

    /// erf(x) lane-wise.
    @_transparent
    public static func erf(_ x: V) -> V {
        let signMask = SIMD8<UInt32>(repeating: 0x8000_0000)
        let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
        let sign = bits & signMask
        let a = unsafeBitCast(bits & ~signMask, to: V.self)
        // |x| ≤ 1
        let s = x * x
        var p = V(repeating: r6)
        p = p * s + r5
        p = p * s + r4
        p = p * s + r3
        p = p * s + r2
        p = p * s + r1
        p = p * s + r0
        let small = x + x * p
        // |x| > 1
        let t = a.replacing(with: 3.9375, where: a .> 3.9375)
        var q = V(repeating: q8)
        q = q * t + q7
        q = q * t + q6
        q = q * t + q5
        q = q * t + q4
        q = q * t + q3
        q = q * t + q2
        q = q * t + q1
        q = q * t + q0
        let large = 1 - exp(q)
        let signed = unsafeBitCast(unsafeBitCast(large, to: SIMD8<UInt32>.self) | sign, to: V.self)
        return small.replacing(with: signed, where: a .> 1)
    }

    /// Scalar versions (tails of the loops), computed exactly as one lane of the vector ones.
    @inline(__always) @inlinable
    public static func exp(_ x: Float) -> Float { exp(V(repeating: x))[0] }

    @inline(__always) @inlinable
    public static func erf(_ x: Float) -> Float { erf(V(repeating: x))[0] }
}
