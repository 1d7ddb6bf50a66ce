/// Short-vector helpers for the GNN's per-edge and per-head loops (a few dozen to a few
/// hundred floats each): eight lanes at a time, no threads (the callers split nodes and edges
/// over the compute threads themselves).
public enum GraphKernels {
    /// y[0..<n] = a + b
    @inline(__always)
    public static func add(_ y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n { VectorMath.store(VectorMath.load(a + i) + VectorMath.load(b + i), y + i); i += 8 }
        while i < n { y[i] = a[i] + b[i]; i += 1 }
    }

    /// y[0..<n] += x
    @inline(__always)
    public static func accumulate(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n { VectorMath.store(VectorMath.load(y + i) + VectorMath.load(x + i), y + i); i += 8 }
        while i < n { y[i] += x[i]; i += 1 }
    }

    /// y[0..<n] += a · x
    @inline(__always)
    public static func axpy(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n { VectorMath.store(VectorMath.load(y + i) + a * VectorMath.load(x + i), y + i); i += 8 }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    /// y[0..<n] = a · x
    @inline(__always)
    public static func scale(_ y: UnsafeMutablePointer<Float>, _ a: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n { VectorMath.store(a * VectorMath.load(x + i), y + i); i += 8 }
        while i < n { y[i] = a * x[i]; i += 1 }
    }

    /// Σ a[i] · b[i] over 0..<n
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = VectorMath.V()
        var i = 0
        while i + 8 <= n { acc += VectorMath.load(a + i) * VectorMath.load(b + i); i += 8 }
        var s = VectorMath.sum(acc)
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }
}
