import KELMNumerics

/// AdamW (Loshchilov & Hutter) over the flat buffers, exactly as `torch.optim.AdamW`
/// computes it: decoupled weight decay, bias-corrected moments.
///
/// The moments share the parameter table's layout; each table entry has its own learning
/// rate and decay flag (DESIGN §5: no decay on biases, LayerNorm parameters, `linkpred.relation`).
public final class AdamW {
    public struct Hyperparameters: Equatable, Sendable {
        public var beta1: Float = 0.9
        public var beta2: Float = 0.999
        public var eps: Float = 1e-8
        public var weightDecay: Float = 0.01

        public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
            self.beta1 = beta1
            self.beta2 = beta2
            self.eps = eps
            self.weightDecay = weightDecay
        }
    }

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
    /// Streams each tensor's parameter, gradient and both moments once.
    public func update(params: FlatBuffer, grads: FlatBuffer, learningRates: [Float], frozen: [Bool]? = nil) {
        precondition(learningRates.count == table.entries.count, "AdamW: one learning rate per parameter entry")
        precondition(frozen == nil || frozen!.count == table.entries.count, "AdamW: one frozen flag per parameter entry")
        precondition(params.count == table.count && grads.count == table.count, "AdamW: buffer size differs from the table")
        step += 1
        let b1 = hyper.beta1, b2 = hyper.beta2, eps = hyper.eps
        let bc1 = 1 - pow(Double(b1), Double(step))
        let bc2Sqrt = Float((1 - pow(Double(b2), Double(step))).squareRoot())
        for (i, e) in table.entries.enumerated() {
            if frozen?[i] == true { continue }
            let lr = learningRates[i]
            let p = params.pointer + e.offset, g = grads.pointer + e.offset
            let m = expAvg.pointer + e.offset, v = expAvgSq.pointer + e.offset
            let decay: Float = decays[i] ? 1 - lr * hyper.weightDecay : 1
            let stepSize = Float(Double(lr) / bc1)
            for j in 0..<e.count {
                let gj = g[j]
                let mj = m[j] + (1 - b1) * (gj - m[j])
                let vj = b2 * v[j] + (1 - b2) * gj * gj
                m[j] = mj
                v[j] = vj
                let denom = vj.squareRoot() / bc2Sqrt + eps
                p[j] = p[j] * decay - stepSize * mj / denom
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
