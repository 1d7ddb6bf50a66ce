import KELMModel
import KELMNumerics
#if canImport(Glibc)
import Glibc
#endif

/// AdamW on the knowledge paths (DESIGN §5): only the selected slices are updated (row j of
/// `intermediate.dense.weight`, element j of its bias, column j of `output.dense.weight`);
/// unselected slices get neither an update nor weight decay and keep their moments. Bias
/// correction uses a per-neuron step count, incremented when the neuron is updated, so a
/// neuron selected for the first time late takes the first step of a fresh Adam.
public final class RoutedAdamW {
    public let layers: Int
    public let ffnSize: Int
    /// [layers, d_ff] steps taken by each neuron.
    public let neuronSteps: AlignedBuffer<Int64>

    public init(layers: Int, ffnSize: Int) {
        self.layers = layers
        self.ffnSize = ffnSize
        neuronSteps = AlignedBuffer<Int64>(count: layers * ffnSize)
    }

    /// Where layer l's routed tensors live in the flat buffers.
    public struct LayerTensors {
        public let intermediateWeight: ParameterRef, intermediateBias: ParameterRef, outputWeight: ParameterRef
        public init(_ p: BertLayer.Parameters) {
            intermediateWeight = p.interWeight
            intermediateBias = p.interBias
            outputWeight = p.outWeight
        }
    }

    /// Counts one update of every neuron: a step in which AdamW updated the whole FFN (the
    /// MLM-adaptation stage, DESIGN §5), so that a neuron's bias correction later continues from
    /// the updates its moments hold.
    public func countUpdateOfEveryNeuron() {
        for i in 0..<(layers * ffnSize) { neuronSteps.pointer[i] += 1 }
    }

    /// One update of every selected neuron, gradients read from `paths.packed`.
    /// `learningRates[l]` is layer l's (scheduled) learning rate.
    /// `params`, `expAvg` and `expAvgSq` share the parameter table's layout (the tensors' refs).
    public func update(paths: KnowledgePaths, tensors: [LayerTensors], params: FlatBuffer, expAvg: FlatBuffer, expAvgSq: FlatBuffer,
                       learningRates: [Float], hyper: AdamHyperparameters) {
        precondition(expAvg.count == params.count && expAvgSq.count == params.count, "RoutedAdamW: moments laid out like the parameters")
        precondition(tensors.count >= layers && learningRates.count >= layers, "RoutedAdamW: one tensor set and rate per layer")
        let params = params.pointer, expAvg = expAvg.pointer, expAvgSq = expAvgSq.pointer
        let beta1 = hyper.beta1, beta2 = hyper.beta2, eps = hyper.eps, weightDecay = hyper.weightDecay
        let d = paths.hidden, k = paths.perLayer, ff = ffnSize
        for l in 0..<layers {
            let lr = learningRates[l]
            let t = tensors[l]
            let packed = paths.packed.pointer + l * paths.packedPerLayer
            let gRows = packed, gBias = packed + k * d, gCols = packed + k * d + k
            for i in 0..<k {
                let j = Int(paths.selected.pointer[l * k + i])
                neuronSteps.pointer[l * ff + j] += 1
                let step = Double(neuronSteps.pointer[l * ff + j])
                let bc1 = 1 - pow(Double(beta1), step)
                let bc2Sqrt = Float((1 - pow(Double(beta2), step)).squareRoot())
                let stepSize = Float(Double(lr) / bc1)
                @inline(__always) func adam(_ offset: Int, _ g: Float, decay: Bool) {
                    let m = expAvg[offset] + (1 - beta1) * (g - expAvg[offset])
                    let v = beta2 * expAvgSq[offset] + (1 - beta2) * g * g
                    expAvg[offset] = m
                    expAvgSq[offset] = v
                    let factor: Float = decay ? 1 - lr * weightDecay : 1
                    params[offset] = params[offset] * factor - stepSize * m / (v.squareRoot() / bc2Sqrt + eps)
                }
                let row = t.intermediateWeight.offset + j * d
                for c in 0..<d { adam(row + c, gRows[i * d + c], decay: true) }
                adam(t.intermediateBias.offset + j, gBias[i], decay: false)
                for o in 0..<d { adam(t.outputWeight.offset + o * ff + j, gCols[o * k + i], decay: true) }
            }
        }
    }
}
