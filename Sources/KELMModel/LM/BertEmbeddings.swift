import KELMNumerics

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
