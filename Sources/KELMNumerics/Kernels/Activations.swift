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
        Parallel.forRanges(count, grain: grain) { r in
            forwardRange(y: y, x: x, r)
        }
    }

    @inline(__always)
    static func forwardRange(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, _ range: Range<Int>) {
        var i = range.lowerBound
        let end = range.upperBound
        while i + 8 <= end {
            let v = VectorMath.load(x + i)
            VectorMath.store(0.5 * v * (1 + VectorMath.erf(v * invSqrt2)), y + i)
            i += 8
        }
        while i < end {
            let v = x[i]
            y[i] = 0.5 * v * (1 + VectorMath.erf(v * invSqrt2))
            i += 1
        }
    }

    /// dx += dy · GELU'(x), GELU'(x) = Φ(x) + x · φ(x); with `accumulate` false, dx is
    /// overwritten instead (then it needs no zeroing first). `dx` may alias `dy`.
    /// `y`, when given, must be GELU(x) as `forward` computed it: then Φ(x) = y/x (Φ(0) = ½), one
    /// division instead of an erf (the same value to within an ulp or two).
    public static func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, y: UnsafePointer<Float>? = nil, count: Int,
                                accumulate: Bool = true) {
        Parallel.forRanges(count, grain: grain) { r in
            var i = r.lowerBound
            let end = r.upperBound
            while i + 8 <= end {
                let v = VectorMath.load(x + i)
                let cdf: VectorMath.V
                if let y {
                    cdf = (VectorMath.load(y + i) / v).replacing(with: 0.5, where: v .== 0)
                } else {
                    cdf = 0.5 * (1 + VectorMath.erf(v * invSqrt2))
                }
                let pdf = invSqrt2Pi * VectorMath.exp(-0.5 * v * v)
                let g = VectorMath.load(dy + i) * (cdf + v * pdf)
                VectorMath.store(accumulate ? VectorMath.load(dx + i) + g : g, dx + i)
                i += 8
            }
            while i < end {
                let v = x[i]
                let cdf: Float
                if let y {
                    cdf = v == 0 ? 0.5 : y[i] / v
                } else {
                    cdf = 0.5 * (1 + VectorMath.erf(v * invSqrt2))
                }
                let pdf = invSqrt2Pi * VectorMath.exp(-0.5 * v * v)
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
        Parallel.forRanges(count, grain: ElementWise.grain) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let v = VectorMath.load(x + i)
                VectorMath.store(v.replacing(with: 0, where: v .< 0), y + i)
                i += 8
            }
            while i < r.upperBound { y[i] = max(x[i], 0); i += 1 }
        }
    }

    /// dx += dy where x > 0.
    public static func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: ElementWise.grain) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                let g = VectorMath.load(dy + i).replacing(with: 0, where: .!(VectorMath.load(x + i) .> 0))
                VectorMath.store(VectorMath.load(dx + i) + g, dx + i)
                i += 8
            }
            while i < r.upperBound {
                if x[i] > 0 { dx[i] += dy[i] }
                i += 1
            }
        }
    }
}

/// Small element-wise helpers.
public enum ElementWise {
    /// Elements per parallel piece of the memory-bound kernels.
    public static let grain = 32768

    /// y = a + b
    public static func add(y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: grain) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                VectorMath.store(VectorMath.load(a + i) + VectorMath.load(b + i), y + i)
                i += 8
            }
            while i < r.upperBound { y[i] = a[i] + b[i]; i += 1 }
        }
    }

    /// y += x
    public static func accumulate(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: grain) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                VectorMath.store(VectorMath.load(y + i) + VectorMath.load(x + i), y + i)
                i += 8
            }
            while i < r.upperBound { y[i] += x[i]; i += 1 }
        }
    }

    /// y += x ⊙ m
    public static func accumulateProduct(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                         _ m: UnsafePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: grain) { r in
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                VectorMath.store(VectorMath.load(y + i) + VectorMath.load(x + i) * VectorMath.load(m + i), y + i)
                i += 8
            }
            while i < r.upperBound { y[i] += x[i] * m[i]; i += 1 }
        }
    }

    /// y[0..<count] = 0
    public static func zero(_ y: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: 4 * grain) { r in
            (y + r.lowerBound).update(repeating: 0, count: r.count)
        }
    }

    /// y[0..<count] = x[0..<count]
    public static func copy(_ y: UnsafeMutablePointer<Float>, from x: UnsafePointer<Float>, count: Int) {
        Parallel.forRanges(count, grain: 4 * grain) { r in
            (y + r.lowerBound).update(from: x + r.lowerBound, count: r.count)
        }
    }
}
