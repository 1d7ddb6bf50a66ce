/// Small element-wise helpers.
public enum ElementWise {
    /// Elements per parallel piece of the memory-bound kernels.
    public static let grain = 32768

    typealias Three = (y: UnsafeMutablePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>)

    /// y = a + b
    public static func add(y: UnsafeMutablePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.elementWise, kp) }
        Parallel.forRanges(count, grain: grain, with: Three(y, a, b)) { raw, lower, upper in
            let s = raw.load(as: Three.self)
            var i = lower
            while i + 8 <= upper {
                VectorMath.store(VectorMath.load(s.a + i) + VectorMath.load(s.b + i), s.y + i)
                i += 8
            }
            while i < upper { s.y[i] = s.a[i] + s.b[i]; i += 1 }
        }
    }

    /// y += x
    public static func accumulate(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, count: Int) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.elementWise, kp) }
        Parallel.forRanges(count, grain: grain, with: Three(y, UnsafePointer(y), x)) { raw, lower, upper in
            let s = raw.load(as: Three.self)
            var i = lower
            while i + 8 <= upper {
                VectorMath.store(VectorMath.load(s.y + i) + VectorMath.load(s.b + i), s.y + i)
                i += 8
            }
            while i < upper { s.y[i] += s.b[i]; i += 1 }
        }
    }

    /// y += x ⊙ m
    public static func accumulateProduct(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>,
                                         _ m: UnsafePointer<Float>, count: Int) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.elementWise, kp) }
        Parallel.forRanges(count, grain: grain, with: Three(y, x, m)) { raw, lower, upper in
            let s = raw.load(as: Three.self)
            var i = lower
            while i + 8 <= upper {
                VectorMath.store(VectorMath.load(s.y + i) + VectorMath.load(s.a + i) * VectorMath.load(s.b + i), s.y + i)
                i += 8
            }
            while i < upper { s.y[i] += s.a[i] * s.b[i]; i += 1 }
        }
    }

    /// y[0..<count] = 0
    public static func zero(_ y: UnsafeMutablePointer<Float>, count: Int) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.elementWise, kp) }
        Parallel.forRanges(count, grain: 4 * grain, with: y) { raw, lower, upper in
            (raw.load(as: UnsafeMutablePointer<Float>.self) + lower).update(repeating: 0, count: upper - lower)
        }
    }

    /// y[0..<count] = x[0..<count]
    public static func copy(_ y: UnsafeMutablePointer<Float>, from x: UnsafePointer<Float>, count: Int) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.elementWise, kp) }
        Parallel.forRanges(count, grain: 4 * grain, with: Three(y, x, x)) { raw, lower, upper in
            let s = raw.load(as: Three.self)
            (s.y + lower).update(from: s.a + lower, count: upper - lower)
        }
    }
}
