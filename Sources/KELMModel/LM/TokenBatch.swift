import KELMNumerics

/// One micro-batch of text: B segments of T tokens, preallocated for the largest batch and
/// refilled in place every step.
public final class TokenBatch {
    public let capacityBatch: Int
    public let capacityTokens: Int
    /// Segments in this batch (≤ capacityBatch).
    public private(set) var batch: Int
    /// Tokens per segment in this batch (≤ capacityTokens); rows are `batch · tokens`.
    public private(set) var tokens: Int
    /// [B, T] token ids after masking.
    public let inputIds: IndexBuffer
    /// [B, T] 1 for real tokens, 0 for padding.
    public let attentionMask: IndexBuffer
    /// [B, T] original id at masked positions, −100 elsewhere.
    public let labels: IndexBuffer
    /// [B] global sample index of each segment (keys dropout and other randomness).
    public let sampleIndices: UnsafeMutablePointer<UInt64>

    public init(capacityBatch: Int, capacityTokens: Int) {
        self.capacityBatch = capacityBatch
        self.capacityTokens = capacityTokens
        batch = capacityBatch
        tokens = capacityTokens
        inputIds = IndexBuffer(count: capacityBatch * capacityTokens)
        attentionMask = IndexBuffer(count: capacityBatch * capacityTokens)
        labels = IndexBuffer(count: capacityBatch * capacityTokens)
        sampleIndices = .allocate(capacity: capacityBatch)
        sampleIndices.initialize(repeating: 0, count: capacityBatch)
        labels.pointer.update(repeating: -100, count: labels.count)
    }

    deinit { sampleIndices.deallocate() }

    public var rows: Int { batch * tokens }

    /// Sets the shape of the next batch; the caller then fills the first `rows` entries.
    public func reshape(batch: Int, tokens: Int) {
        precondition(batch >= 1 && batch <= capacityBatch && tokens >= 1 && tokens <= capacityTokens,
                     "TokenBatch.reshape: \(batch)×\(tokens) exceeds capacity \(capacityBatch)×\(capacityTokens)")
        self.batch = batch
        self.tokens = tokens
    }

    /// Number of real (non-padding) tokens: positions whose attention mask is set.
    public var realTokenCount: Int {
        var n = 0
        for i in 0..<rows where attentionMask.pointer[i] != 0 { n += 1 }
        return n
    }

    /// Number of positions with a label.
    public var labelCount: Int {
        var n = 0
        for i in 0..<rows where labels.pointer[i] >= 0 { n += 1 }
        return n
    }
}
