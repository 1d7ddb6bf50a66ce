/// GELU in the exact (erf) form: y = x · Φ(x) = ½ x (1 + erf(x/√2)).
///
/// erf is `VectorMath.erf` (relative error < 1e-7), eight lanes at a time; large counts are
/// split over the compute threads.
public enum GELU {
    @usableFromInline static let invSqrt2: Float = 0.707_106_781_186_547_5
    @usableFromInline static let invSqrt2Pi: Float = 0.398_942_280_401_432_7
    /// Elements per parallel piece.
    static let grain = 8192

    /// y = GELU(x), element-wise; `y` may alias `x`.
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.gelu, kp) }
        typealias State = (y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>)
        Parallel.forRanges(count, grain: grain, with: State(y, x)) { raw, lower, upper in
            let s = raw.load(as: State.self)
            var i = lower
            while i + 8 <= upper {
                let v = VectorMath.load(s.x + i)
                VectorMath.store(0.5 * v * (1 + VectorMath.erf(v * GELU.invSqrt2)), s.y + i)
                i += 8
            }
            while i < upper {
                let v = s.x[i]
                s.y[i] = 0.5 * v * (1 + VectorMath.erf(v * GELU.invSqrt2))
                i += 1
            }
        }
    }

    /// dx += dy · GELU'(x), GELU'(x) = Φ(x) + x · φ(x); with `accumulate` false, dx is
    /// overwritten instead (then it needs no zeroing first). `dx` may alias `dy`.
    /// `y`, when given, must be GELU(x) as `forward` computed it: then Φ(x) = y/x (Φ(0) = ½), one
    /// division instead of an erf (the same value to within an ulp or two).
    public static func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, y: UnsafePointer<Float>? = nil, count: Int,
                                accumulate: Bool = true) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.gelu, kp) }
        typealias State = (dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>,
                           y: UnsafePointer<Float>?, accumulate: Bool)
        Parallel.forRanges(count, grain: grain, with: State(dx, dy, x, y, accumulate)) { raw, lower, upper in
            let s = raw.load(as: State.self)
            let dx = s.dx, dy = s.dy, x = s.x, accumulate = s.accumulate
            var i = lower
            while i + 8 <= upper {
                let v = VectorMath.load(x + i)
                let cdf: VectorMath.V
                if let y = s.y {
                    cdf = (VectorMath.load(y + i) / v).replacing(with: 0.5, where: v .== 0)
                } else {
                    cdf = 0.5 * (1 + VectorMath.erf(v * GELU.invSqrt2))
                }
                let pdf = GELU.invSqrt2Pi * VectorMath.exp(-0.5 * v * v)
                let g = VectorMath.load(dy + i) * (cdf + v * pdf)
                VectorMath.store(accumulate ? VectorMath.load(dx + i) + g : g, dx + i)
                i += 8
            }
            while i < upper {
                let v = x[i]
                let cdf: Float
                if let y = s.y {
                    cdf = v == 0 ? 0.5 : y[i] / v
                } else {
                    cdf = 0.5 * (1 + VectorMath.erf(v * GELU.invSqrt2))
                }
                let pdf = GELU.invSqrt2Pi * VectorMath.exp(-0.5 * v * v)
                let g = dy[i] * (cdf + v * pdf)
                dx[i] = accumulate ? dx[i] + g : g
                i += 1
            }
        }
    }
}

/// ReLU: y = max(x, 0).
public enum ReLU {
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.elementWise, kp) }
        typealias State = (y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>)
        Parallel.forRanges(count, grain: ElementWise.grain, with: State(y, x)) { raw, lower, upper in
            let s = raw.load(as: State.self)
            var i = lower
            while i + 8 <= upper {
                let v = VectorMath.load(s.x + i)
                VectorMath.store(v.replacing(with: 0, where: v .< 0), s.y + i)
                i += 8
            }
            while i < upper { s.y[i] = max(s.x[i], 0); i += 1 }
        }
    }

    /// dx += dy where x > 0 (with `accumulate` false: dx = dy where x > 0, else 0).
    public static func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, count: Int, accumulate: Bool = true) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.elementWise, kp) }
        typealias State = (dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>, x: UnsafePointer<Float>, accumulate: Bool)
        Parallel.forRanges(count, grain: ElementWise.grain, with: State(dx, dy, x, accumulate)) { raw, lower, upper in
            let s = raw.load(as: State.self)
            var i = lower
            while i + 8 <= upper {
                let g = VectorMath.load(s.dy + i).replacing(with: 0, where: .!(VectorMath.load(s.x + i) .> 0))
                VectorMath.store(s.accumulate ? VectorMath.load(s.dx + i) + g : g, s.dx + i)
                i += 8
            }
            while i < upper {
                let g: Float = s.x[i] > 0 ? s.dy[i] : 0
                s.dx[i] = s.accumulate ? s.dx[i] + g : g
                i += 1
            }
        }
    }
}
