/// AdamW's constants (PyTorch's defaults but for the weight decay, DESIGN §5), shared by the
/// dense optimizer and the knowledge paths' routed one.
public struct AdamHyperparameters: Equatable, Sendable {
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
