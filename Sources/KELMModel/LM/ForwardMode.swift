import KELMNumerics

/// Per-call settings of a forward pass: whether dropout is on, and the random coordinates.
public struct ForwardMode {
    public var dropout: Bool
    public var seed: UInt64
    public var epoch: UInt32

    public init(dropout: Bool, seed: UInt64 = 0, epoch: UInt32 = 0) {
        self.dropout = dropout
        self.seed = seed
        self.epoch = epoch
    }

    public static let inference = ForwardMode(dropout: false)

    func context(rate: Float, batch: TokenBatch) -> DropoutContext? {
        guard dropout, rate > 0 else { return nil }
        return DropoutContext(rate: rate, seed: seed, epoch: epoch, sampleIndices: batch.sampleIndices)
    }
}
