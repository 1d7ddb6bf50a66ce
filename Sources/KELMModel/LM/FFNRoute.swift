import KELMNumerics

/// The selected intermediate neurons of one FFN and where their packed weight gradients go
/// (see `BertLayer.route`). Packed layout per layer: k rows of `intermediate.dense.weight`
/// ([k, d]), k elements of its bias, then the k columns of `output.dense.weight` as [d, k].
public struct FFNRoute {
    /// Selected neuron ids, ascending.
    public let selected: UnsafePointer<Int32>
    public let count: Int
    public let intermediateRows: UnsafeMutablePointer<Float>
    public let intermediateBias: UnsafeMutablePointer<Float>
    public let outputColumns: UnsafeMutablePointer<Float>
    /// [rows, k] work space for gathered columns.
    public let scratch: UnsafeMutablePointer<Float>

    public init(selected: UnsafePointer<Int32>, count: Int, packed: UnsafeMutablePointer<Float>, hidden d: Int,
                scratch: UnsafeMutablePointer<Float>) {
        self.selected = selected
        self.count = count
        intermediateRows = packed
        intermediateBias = packed + count * d
        outputColumns = packed + count * d + count
        self.scratch = scratch
    }

    /// Floats one layer's packed gradient takes.
    public static func packedCount(selected k: Int, hidden d: Int) -> Int { 2 * k * d + k }

    /// scratch[r, i] = m[r, selected[i]]
    func gather(_ m: UnsafePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows {
            let src = m + r * width, dst = scratch + r * count
            for i in 0..<count { dst[i] = src[Int(selected[i])] }
        }
    }
}

/// Receives the gradient with respect to an overridden FFN activation (integrated gradients).
public protocol ActivationGradientSink: AnyObject {
    func accumulate(gradient: UnsafePointer<Float>, rows: Int, layer: Int)
}

/// See `BertLayer.activationOverride`.
public struct ActivationOverride {
    public let values: UnsafePointer<Float>
    public let alpha: Float
    public let gradientSink: ActivationGradientSink

    public init(values: UnsafePointer<Float>, alpha: Float, gradientSink: ActivationGradientSink) {
        self.values = values
        self.alpha = alpha
        self.gradientSink = gradientSink
    }
}
