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

/// Dropout sites of the LM; each is a separate random stream.
enum DropoutSite {
    static let embeddings: UInt32 = 0
    static func attentionProbs(_ layer: Int) -> UInt32 { UInt32(1 + 3 * layer) }
    static func attentionOutput(_ layer: Int) -> UInt32 { UInt32(2 + 3 * layer) }
    static func ffnOutput(_ layer: Int) -> UInt32 { UInt32(3 + 3 * layer) }
    static func gnnOutput(_ layer: Int) -> UInt32 { UInt32(1000 + layer) }
}

/// `lm.embeddings`: word + position + token type (all 0), LayerNorm, dropout.
public final class BertEmbeddings {
    public struct Parameters {
        public let word: ParameterRef, position: ParameterRef, tokenType: ParameterRef
        public let normWeight: ParameterRef, normBias: ParameterRef

        public init(_ table: inout ParameterTable, config c: BertConfig) throws {
            word = try table.addWeight("lm.embeddings.word_embeddings.weight", shape: [c.vocabSize, c.hiddenSize])
            position = try table.addWeight("lm.embeddings.position_embeddings.weight", shape: [c.maxPositions, c.hiddenSize])
            tokenType = try table.addWeight("lm.embeddings.token_type_embeddings.weight", shape: [c.typeVocabSize, c.hiddenSize])
            (normWeight, normBias) = try table.addLayerNorm("lm.embeddings.LayerNorm", width: c.hiddenSize)
        }
    }

    public let p: Parameters
    let config: BertConfig
    /// [rows, d] word + position + type, before LayerNorm.
    let sum: FlatBuffer
    let mean: FlatBuffer, rstd: FlatBuffer
    let dropMask: FlatBuffer
    /// [rows, d] the output.
    public let output: FlatBuffer
    let scratch: FlatBuffer
    let dropoutGrad: FlatBuffer

    public init(_ p: Parameters, config: BertConfig, maxRows: Int) {
        self.p = p
        self.config = config
        let d = config.hiddenSize
        sum = FlatBuffer(count: maxRows * d)
        mean = FlatBuffer(count: maxRows)
        rstd = FlatBuffer(count: maxRows)
        dropMask = FlatBuffer(count: config.hiddenDropout > 0 ? maxRows * d : 0)
        output = FlatBuffer(count: maxRows * d)
        scratch = FlatBuffer(count: maxRows * d)
        dropoutGrad = FlatBuffer(count: config.hiddenDropout > 0 ? maxRows * d : 0)
    }

    /// output[B·T, d] = Dropout(LN(E_word[ids] + E_pos[t] + E_type[0]))
    public func forward(batch: TokenBatch, params: UnsafeMutablePointer<Float>, mode: ForwardMode) {
        let d = config.hiddenSize, T = batch.tokens, n = batch.rows
        Embedding.forward(out: sum.pointer, table: p.word.pointer(in: params), ids: batch.inputIds.pointer,
                          rows: n, width: d, accumulate: false)
        let pos = p.position.pointer(in: params), type0 = p.tokenType.pointer(in: params)
        for r in 0..<n {
            let row = sum.pointer + r * d, pr = pos + (r % T) * d
            for i in 0..<d { row[i] += pr[i] + type0[i] }
        }
        LayerNorm.forward(y: output.pointer, mean: mean.pointer, rstd: rstd.pointer, x: sum.pointer,
                          weight: p.normWeight.pointer(in: params), bias: p.normBias.pointer(in: params),
                          rows: n, width: d, eps: config.layerNormEps)
        if let ctx = mode.context(rate: config.hiddenDropout, batch: batch) {
            Dropout.makeMask(mask: dropMask.pointer, items: batch.batch, perItem: T * d,
                             site: DropoutSite.embeddings, context: ctx)
            Dropout.forward(y: output.pointer, x: output.pointer, mask: dropMask.pointer, count: n * d)
            dropoutApplied = true
        } else {
            dropoutApplied = false
        }
    }

    private var dropoutApplied = false

    /// Adds the parameter gradients for `dOutput` ([B·T, d]); the `[PAD]` row of the word
    /// embeddings gets none (Hugging Face's `padding_idx`). With `wordRows`, the word
    /// embeddings' gradient rows are appended there instead of added into the table.
    public func backward(dOutput: UnsafePointer<Float>, batch: TokenBatch,
                         params: UnsafeMutablePointer<Float>, grads: UnsafeMutablePointer<Float>?,
                         wordRows: SparseRows? = nil) {
        guard let grads else { return }
        let d = config.hiddenSize, T = batch.tokens, n = batch.rows
        var dNorm = dOutput
        if dropoutApplied {
            dropoutGrad.pointer.update(repeating: 0, count: n * d)
            Dropout.backward(dx: dropoutGrad.pointer, dy: dOutput, mask: dropMask.pointer, count: n * d)
            dNorm = UnsafePointer(dropoutGrad.pointer)
        }
        let dSum = scratch.pointer
        dSum.update(repeating: 0, count: n * d)
        LayerNorm.backward(dx: dSum, dWeight: p.normWeight.pointer(in: grads), dBias: p.normBias.pointer(in: grads),
                           dy: dNorm, x: sum.pointer, mean: mean.pointer, rstd: rstd.pointer,
                           weight: p.normWeight.pointer(in: params), rows: n, width: d)
        if let wordRows {
            for r in 0..<n where batch.inputIds.pointer[r] != Int32(config.padTokenId) {
                wordRows.append(id: batch.inputIds.pointer[r], row: dSum + r * d)
            }
        } else {
            Embedding.backward(dTable: p.word.pointer(in: grads), dOut: dSum, ids: batch.inputIds.pointer,
                               rows: n, width: d, skipId: Int32(config.padTokenId))
        }
        let dPos = p.position.pointer(in: grads), dType0 = p.tokenType.pointer(in: grads)
        for r in 0..<n {
            let g = dSum + r * d, pr = dPos + (r % T) * d
            for i in 0..<d {
                pr[i] += g[i]
                dType0[i] += g[i]
            }
        }
    }
}
