#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// GELU in the exact (erf) form: y = x · Φ(x) = ½ x (1 + erf(x/√2)).
public enum GELU {
    @usableFromInline static let invSqrt2: Float = 0.707_106_781_186_547_5
    @usableFromInline static let invSqrt2Pi: Float = 0.398_942_280_401_432_7

    /// y = GELU(x), element-wise; `y` may alias `x`.
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            y[i] = 0.5 * v * (1 + erff(v * invSqrt2))
        }
    }

    /// dx += dy · GELU'(x), GELU'(x) = Φ(x) + x · φ(x).
    public static func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            let cdf = 0.5 * (1 + erff(v * invSqrt2))
            let pdf = invSqrt2Pi * expf(-0.5 * v * v)
            dx[i] += dy[i] * (cdf + v * pdf)
        }
    }
}

/// ReLU: y = max(x, 0).
public enum ReLU {
    public static func forward(y: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = max(x[i], 0) }
    }

    /// dx += dy where x > 0.
    public static func backward(dx: UnsafeMutablePointer<Float>, dy: UnsafePointer<Float>,
                                x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count where x[i] > 0 { dx[i] += dy[i] }
    }
}

/// Small element-wise helpers.
public enum ElementWise {
    /// y = a + b
    public static func add(y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { y[i] = a[i] + b[i] }
    }

    /// y += x
    public static func accumulate(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] }
    }

    /// y += x ⊙ m
    public static func accumulateProduct(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                         _ m: UnsafePointer<Float>, count: Int) {
        for i in 0..<count { y[i] += x[i] * m[i] }
    }
}
