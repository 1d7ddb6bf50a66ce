import KELMNumerics

/// The MLM head, `mlm.*` (BERT's `cls.predictions`): transform = dense d→d, GELU, LayerNorm;
/// decoder = the word embeddings (tied) plus `mlm.bias`; softmax cross-entropy.
public final class MaskedLMHead {
    public struct Parameters {
        public let denseWeight: ParameterRef, denseBias: ParameterRef
        public let normWeight: ParameterRef, normBias: ParameterRef
        public let bias: ParameterRef

        public init(_ t: inout ParameterTable, config c: BertConfig) throws {
            denseWeight = try t.addWeight("mlm.transform.dense.weight", shape: [c.hiddenSize, c.hiddenSize])
            denseBias = try t.addBias("mlm.transform.dense.bias", count: c.hiddenSize)
            (normWeight, normBias) = try t.addLayerNorm("mlm.transform.LayerNorm", width: c.hiddenSize)
            bias = try t.addBias("mlm.bias", count: c.vocabSize)
        }
    }

    public let p: Parameters
    let config: BertConfig
    let wordEmbeddings: ParameterRef
    public let positions: LogitPositions
    /// Rows of the hidden states where logits are computed, and their labels.
    let rowIndex: IndexBuffer, rowLabels: IndexBuffer
    public private(set) var selectedRows = 0
    let selected: FlatBuffer                 // [m, d] gathered hidden states
    let densePre: FlatBuffer, denseAct: FlatBuffer
    let normMean: FlatBuffer, normRstd: FlatBuffer
    let transformed: FlatBuffer              // [m, d]
    /// [m, V] logits at the selected rows, from `forward` until `backward`, which turns them
    /// into their gradient in place (no separate probability or gradient matrix is kept).
    public let logits: FlatBuffer
    /// [m, 2] per selected row: max logit and 1/Σ exp(logit − max) (`CrossEntropy.forward`).
    let rowStats: FlatBuffer
    /// The scale `logits` were turned into a gradient with (nil: they still hold the logits),
    /// so that backward may run again after one forward.
    private var gradientScale: Float? = nil
    let dTransformed: FlatBuffer, dDenseAct: FlatBuffer, dDensePre: FlatBuffer, dSelected: FlatBuffer

    public init(_ p: Parameters, wordEmbeddings: ParameterRef, config c: BertConfig, maxRows: Int, positions: LogitPositions) {
        self.p = p
        config = c
        self.wordEmbeddings = wordEmbeddings
        self.positions = positions
        let d = c.hiddenSize, m = maxRows, V = c.vocabSize
        rowIndex = IndexBuffer(count: m)
        rowLabels = IndexBuffer(count: m)
        selected = FlatBuffer(count: m * d)
        densePre = FlatBuffer(count: m * d)
        denseAct = FlatBuffer(count: m * d)
        normMean = FlatBuffer(count: m)
        normRstd = FlatBuffer(count: m)
        transformed = FlatBuffer(count: m * d)
        logits = FlatBuffer(count: m * V)
        rowStats = FlatBuffer(count: 2 * m)
        dTransformed = FlatBuffer(count: m * d)
        dDenseAct = FlatBuffer(count: m * d)
        dDensePre = FlatBuffer(count: m * d)
        dSelected = FlatBuffer(count: m * d)
    }

    /// The batch row of selected row `i`.
    public func row(_ i: Int) -> Int { Int(rowIndex.pointer[i]) }

    /// Computes logits at the selected rows of hidden[B·T, d] and returns the summed
    /// cross-entropy over labelled rows, their count, and how many the arg-max got right.
    public func forward(hidden: UnsafePointer<Float>, batch: TokenBatch, params: UnsafeMutablePointer<Float>)
        -> (lossSum: Double, count: Int, correct: Int) {
        let c = config, d = c.hiddenSize, V = c.vocabSize, n = batch.rows
        var m = 0
        var labelled = 0
        for r in 0..<n {
            let label = batch.labels.pointer[r]
            if label >= 0 { labelled += 1 }
            if positions == .all || label >= 0 {
                rowIndex.pointer[m] = Int32(r)
                rowLabels.pointer[m] = label
                m += 1
            }
        }
        selectedRows = m
        for i in 0..<m {
            (selected.pointer + i * d).update(from: hidden + Int(rowIndex.pointer[i]) * d, count: d)
        }
        Linear.forward(y: densePre.pointer, x: selected.pointer, weight: p.denseWeight.pointer(in: params),
                       bias: p.denseBias.pointer(in: params), rows: m, inFeatures: d, outFeatures: d)
        GELU.forward(y: denseAct.pointer, x: densePre.pointer, count: m * d)
        LayerNorm.forward(y: transformed.pointer, mean: normMean.pointer, rstd: normRstd.pointer, x: denseAct.pointer,
                          weight: p.normWeight.pointer(in: params), bias: p.normBias.pointer(in: params),
                          rows: m, width: d, eps: c.layerNormEps)
        Linear.forward(y: logits.pointer, x: transformed.pointer, weight: wordEmbeddings.pointer(in: params),
                       bias: p.bias.pointer(in: params), rows: m, inFeatures: d, outFeatures: V)
        gradientScale = nil
        let (lossSum, correct) = CrossEntropy.forward(logits: logits.pointer, labels: rowLabels.pointer, rows: m,
                                                      classes: V, rowStats: rowStats.pointer)
        return (lossSum, labelled, correct)
    }

    /// Adds into dHidden[B·T, d] the gradient of `scale · lossSum` (scale = weight / global count),
    /// and into the head's gradients (`headGrads`) and the tied word embeddings (`embeddingGrads`);
    /// nil = frozen.
    public func backward(dHidden: UnsafeMutablePointer<Float>, scale: Float, params: UnsafeMutablePointer<Float>,
                         headGrads: UnsafeMutablePointer<Float>?, embeddingGrads: UnsafeMutablePointer<Float>?) {
        let c = config, d = c.hiddenSize, V = c.vocabSize, m = selectedRows
        // scale 0 (nothing labelled anywhere): the head adds nothing
        if scale == 0 { return }
        // the logits become their gradient, the bias gradient summed in the same pass; a
        // repeated backward after one forward reuses (rescales) the gradient already there
        let dLogits = logits.pointer
        if let done = gradientScale {
            if done != scale {
                typealias State = (g: UnsafeMutablePointer<Float>, ratio: Float)
                Parallel.forRanges(m * V, grain: ElementWise.grain, with: State(dLogits, scale / done)) { raw, lower, upper in
                    let s = raw.load(as: State.self)
                    for i in lower..<upper { s.g[i] *= s.ratio }
                }
                gradientScale = scale
            }
            if let dBias = p.bias.gradient(in: headGrads) { ColumnSum.add(into: dBias, from: dLogits, rows: m, columns: V) }
        } else {
            CrossEntropy.gradientInPlace(logits: dLogits, rowStats: rowStats.pointer, labels: rowLabels.pointer,
                                         rows: m, classes: V, scale: scale, dBias: p.bias.gradient(in: headGrads))
            gradientScale = scale
        }
        Linear.backward(dx: dTransformed.pointer, dWeight: wordEmbeddings.gradient(in: embeddingGrads),
                        dBias: nil, dy: dLogits, x: transformed.pointer,
                        weight: wordEmbeddings.pointer(in: params), rows: m, inFeatures: d, outFeatures: V,
                        accumulateDx: false)
        LayerNorm.backward(dx: dDenseAct.pointer, dWeight: p.normWeight.gradient(in: headGrads),
                           dBias: p.normBias.gradient(in: headGrads), dy: dTransformed.pointer, x: denseAct.pointer,
                           mean: normMean.pointer, rstd: normRstd.pointer, weight: p.normWeight.pointer(in: params),
                           rows: m, width: d, accumulate: false)
        GELU.backward(dx: dDensePre.pointer, dy: dDenseAct.pointer, x: densePre.pointer, count: m * d, accumulate: false)
        Linear.backward(dx: dSelected.pointer, dWeight: p.denseWeight.gradient(in: headGrads),
                        dBias: p.denseBias.gradient(in: headGrads), dy: dDensePre.pointer, x: selected.pointer,
                        weight: p.denseWeight.pointer(in: params), rows: m, inFeatures: d, outFeatures: d,
                        accumulateDx: false)
        for i in 0..<m {
            ElementWise.accumulate(dHidden + Int(rowIndex.pointer[i]) * d, dSelected.pointer + i * d, count: d)
        }
    }
}
