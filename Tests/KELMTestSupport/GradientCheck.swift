import KELMNumerics

/// Central finite differences against an analytic gradient, in float32 (the precision the
/// kernels run at), with tolerances set for it.
public struct GradientCheck {
    public struct Report: CustomStringConvertible {
        public let label: String
        public let checked: Int
        public let worstIndex: Int
        public let worstAnalytic: Double
        public let worstNumeric: Double
        public let worstExcess: Double
        /// ‖numeric − analytic‖ / max(‖numeric‖, ‖analytic‖, tiny) over the checked elements.
        public let relativeNormError: Double
        /// max(‖numeric‖, ‖analytic‖) / √checked: below the absolute tolerance the gradient is
        /// zero (e.g. attention's key bias, which softmax ignores) and only the element test applies.
        public let rmsMagnitude: Double
        let absoluteTolerance: Double
        public var passed: Bool {
            worstExcess <= 0 && (relativeNormError < 2e-2 || rmsMagnitude < absoluteTolerance)
        }

        public var description: String {
            "\(label): \(checked) checked, relative error \(relativeNormError), worst at [\(worstIndex)] analytic \(worstAnalytic) numeric \(worstNumeric)"
        }
    }

    public var eps: Float
    public var absoluteTolerance: Double
    public var relativeTolerance: Double
    public var maxChecks: Int

    public init(eps: Float = 1e-2, absoluteTolerance: Double = 5e-3, relativeTolerance: Double = 3e-2, maxChecks: Int = 48) {
        self.eps = eps
        self.absoluteTolerance = absoluteTolerance
        self.relativeTolerance = relativeTolerance
        self.maxChecks = maxChecks
    }

    /// Perturbs up to `maxChecks` elements of `x` (spread evenly, always including the first
    /// and last) and compares (L(x+ε) − L(x−ε)) / 2ε with `analytic`.
    public func check(_ label: String, x: UnsafeMutablePointer<Float>, count: Int,
                      analytic: UnsafePointer<Float>, loss: () -> Double) -> Report {
        let stride = max(1, count / maxChecks)
        var indices = Array(Swift.stride(from: 0, to: count, by: stride))
        if indices.last != count - 1 { indices.append(count - 1) }
        var worst = (index: 0, a: 0.0, n: 0.0, excess: -Double.infinity)
        var diff2 = 0.0, num2 = 0.0, ana2 = 0.0
        for i in indices {
            let saved = x[i]
            x[i] = saved + eps
            let plus = loss()
            x[i] = saved - eps
            let minus = loss()
            x[i] = saved
            let numeric = (plus - minus) / (2 * Double(eps))
            let a = Double(analytic[i])
            let excess = abs(numeric - a) - (absoluteTolerance + relativeTolerance * max(abs(numeric), abs(a)))
            if excess > worst.excess { worst = (i, a, numeric, excess) }
            diff2 += (numeric - a) * (numeric - a)
            num2 += numeric * numeric
            ana2 += a * a
        }
        let rel = diff2.squareRoot() / max(num2.squareRoot(), ana2.squareRoot(), 1e-12)
        return Report(label: label, checked: indices.count, worstIndex: worst.index, worstAnalytic: worst.a,
                      worstNumeric: worst.n, worstExcess: worst.excess, relativeNormError: rel,
                      rmsMagnitude: max(num2, ana2).squareRoot() / Double(indices.count).squareRoot(),
                      absoluteTolerance: absoluteTolerance)
    }
}

/// Deterministic test data.
public struct TestRandom {
    var stream: RandomStream

    public init(seed: UInt64) { stream = RandomStream(RandomKey(seed: seed, purpose: .test)) }

    public mutating func normal(_ std: Float = 1) -> Float { std * stream.nextNormal() }

    public mutating func fill(_ p: UnsafeMutablePointer<Float>, count: Int, std: Float = 1, mean: Float = 0) {
        for i in 0..<count { p[i] = mean + std * stream.nextNormal() }
    }

    public mutating func int(below n: Int) -> Int { stream.nextInt(below: n) }

    public mutating func buffer(_ count: Int, std: Float = 1, mean: Float = 0) -> FlatBuffer {
        let b = FlatBuffer(count: count)
        fill(b.pointer, count: count, std: std, mean: mean)
        return b
    }
}

/// Σ out ⊙ weights in double precision: the scalar a kernel test differentiates.
public func weightedSum(_ out: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(out[i]) * Double(weights[i]) }
    return s
}
