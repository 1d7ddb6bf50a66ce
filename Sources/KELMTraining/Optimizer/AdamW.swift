import KELMNumerics

/// AdamW (Loshchilov & Hutter) over the flat buffers, exactly as `torch.optim.AdamW`
/// computes it: decoupled weight decay, bias-corrected moments.
///
/// The moments share the parameter table's layout; each table entry has its own learning
/// rate and decay flag (DESIGN §5: no decay on biases, LayerNorm parameters, `linkpred.relation`).
public final class AdamW {
    public typealias Hyperparameters = AdamHyperparameters

    public let table: ParameterTable
    public var hyper: Hyperparameters
    /// First and second moments (`exp_avg`, `exp_avg_sq`), laid out like the parameters.
    public let expAvg: FlatBuffer
    public let expAvgSq: FlatBuffer
    /// Steps taken so far (PyTorch's `step`).
    public private(set) var step: Int = 0
    /// Whether each entry is weight-decayed, from the table.
    private let decays: [Bool]

    public init(table: ParameterTable, hyper: Hyperparameters = .init()) {
        self.table = table
        self.hyper = hyper
        expAvg = FlatBuffer(count: table.count)
        expAvgSq = FlatBuffer(count: table.count)
        decays = table.entries.map(\.weightDecay)
    }

    /// Restores the step counter (checkpoint resume).
    public func setStep(_ s: Int) { step = s }

    /// One update of every entry: `learningRates[i]` is entry i's learning rate; entries with
    /// `frozen[i]` true are skipped entirely (no update, no decay, moments kept). A learning
    /// rate of 0 still updates the moments, as in PyTorch (e.g. the first warm-up step).
    /// Streams each tensor's parameter, gradient and both moments once, eight lanes at a time
    /// (lane for lane the same arithmetic as the scalar formula), large tensors split over the
    /// compute threads. With `zeroGradients`, each gradient is set to 0 in the same pass
    /// (instead of a separate `zeroGrads()` pass over the buffer; frozen entries' gradients
    /// are zeroed too). `gradientScale` multiplies every gradient as it is read (global-norm
    /// clipping), exactly as scaling the buffer beforehand would.
    public func update(params: FlatBuffer, grads: FlatBuffer, learningRates: [Float], frozen: [Bool]? = nil,
                       zeroGradients: Bool = false, gradientScale: Float = 1) {
        precondition(learningRates.count == table.entries.count, "AdamW: one learning rate per parameter entry")
        precondition(frozen == nil || frozen!.count == table.entries.count, "AdamW: one frozen flag per parameter entry")
        precondition(params.count == table.count && grads.count == table.count, "AdamW: buffer size differs from the table")
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.optimizer, kp) }
        step += 1
        let b1 = hyper.beta1, b2 = hyper.beta2, eps = hyper.eps
        let bc1 = 1 - pow(Double(b1), Double(step))
        let bc2Sqrt = Float((1 - pow(Double(b2), Double(step))).squareRoot())
        for (i, e) in table.entries.enumerated() {
            let p = params.pointer + e.offset, g = grads.pointer + e.offset
            if frozen?[i] == true {
                if zeroGradients { ElementWise.zero(g, count: e.count) }
                continue
            }
            let lr = learningRates[i]
            let m = expAvg.pointer + e.offset, v = expAvgSq.pointer + e.offset
            let decay: Float = decays[i] ? 1 - lr * hyper.weightDecay : 1
            let stepSize = Float(Double(lr) / bc1)
            let state = Tensor(p: p, g: g, m: m, v: v, b1: b1, b2: b2, eps: eps, bc2Sqrt: bc2Sqrt, decay: decay,
                               stepSize: stepSize, zeroGradients: zeroGradients, gradientScale: gradientScale)
            Parallel.forRanges(e.count, grain: 65536, with: state) { raw, lower, upper in
                AdamW.updateRange(lower..<upper, raw.load(as: Tensor.self))
            }
        }
    }

    /// One tensor's update (the state of its parallel region).
    struct Tensor {
        let p: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>
        let m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>
        let b1: Float, b2: Float, eps: Float, bc2Sqrt: Float, decay: Float, stepSize: Float
        let zeroGradients: Bool
        let gradientScale: Float
    }

    static func updateRange(_ range: Range<Int>, _ t: Tensor) {
        let p = t.p, g = t.g, m = t.m, v = t.v, b2 = t.b2, eps = t.eps, bc2Sqrt = t.bc2Sqrt, decay = t.decay
        let stepSize = t.stepSize, zeroGradients = t.zeroGradients, scale = t.gradientScale
        let oneMinusB1 = 1 - t.b1, oneMinusB2 = 1 - t.b2
        var j = range.lowerBound
        while j + 8 <= range.upperBound {
            let gj = VectorMath.load(g + j) * scale, mOld = VectorMath.load(m + j), vOld = VectorMath.load(v + j)
            let mj = mOld + oneMinusB1 * (gj - mOld)
            let vj = b2 * vOld + oneMinusB2 * gj * gj
            VectorMath.store(mj, m + j)
            VectorMath.store(vj, v + j)
            let denom = vj.squareRoot() / bc2Sqrt + eps
            VectorMath.store(VectorMath.load(p + j) * decay - stepSize * mj / denom, p + j)
            if zeroGradients { VectorMath.store(VectorMath.V(), g + j) }
            j += 8
        }
        while j < range.upperBound {
            let gj = g[j] * scale
            let mj = m[j] + oneMinusB1 * (gj - m[j])
            let vj = b2 * v[j] + oneMinusB2 * gj * gj
            m[j] = mj
            v[j] = vj
            let denom = vj.squareRoot() / bc2Sqrt + eps
            p[j] = p[j] * decay - stepSize * mj / denom
            if zeroGradients { g[j] = 0 }
            j += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
