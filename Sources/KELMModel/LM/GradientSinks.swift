import KELMNumerics

/// Where backward adds parameter gradients, per group (DESIGN §5); nil means the group is
/// frozen: its weight gradients are not computed (input gradients still flow).
public struct GradientSinks {
    public var embeddings: UnsafeMutablePointer<Float>?
    public var attention: UnsafeMutablePointer<Float>?
    public var ffn: UnsafeMutablePointer<Float>?
    public var heads: UnsafeMutablePointer<Float>?
    public var gnn: UnsafeMutablePointer<Float>?
    public var mint: UnsafeMutablePointer<Float>?
    /// When set (and embeddings are not frozen), the input side of the word embeddings'
    /// gradient is appended here row by row instead of being added into the table; the tied
    /// decoder's part still goes to `embeddings`.
    public var wordEmbeddingRows: SparseRows?

    public init(embeddings: UnsafeMutablePointer<Float>?, attention: UnsafeMutablePointer<Float>?,
                ffn: UnsafeMutablePointer<Float>?, heads: UnsafeMutablePointer<Float>?,
                gnn: UnsafeMutablePointer<Float>? = nil, mint: UnsafeMutablePointer<Float>? = nil) {
        self.embeddings = embeddings
        self.attention = attention
        self.ffn = ffn
        self.heads = heads
        self.gnn = gnn
        self.mint = mint
    }

    /// Every group receives gradients in `grads`.
    public static func all(_ grads: UnsafeMutablePointer<Float>) -> GradientSinks {
        GradientSinks(embeddings: grads, attention: grads, ffn: grads, heads: grads, gnn: grads, mint: grads)
    }
}
