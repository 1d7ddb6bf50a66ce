import KELMNumerics

/// The BERT masked LM (`lm.*` + `mlm.*`), as Hugging Face's `BertForMaskedLM` computes it.
/// Also the text-only mode of DESIGN §7.
public final class BertMaskedLM {
    /// The model's parameters in table order: embeddings, layers 0…L−1, MLM head.
    public struct Parameters {
        public let embeddings: BertEmbeddings.Parameters
        public let layers: [BertLayer.Parameters]
        public let head: MaskedLMHead.Parameters

        public init(_ t: inout ParameterTable, config c: BertConfig) throws {
            embeddings = try BertEmbeddings.Parameters(&t, config: c)
            layers = try (0..<c.numLayers).map { try BertLayer.Parameters(&t, layer: $0, config: c) }
            head = try MaskedLMHead.Parameters(&t, config: c)
        }
    }

    /// Result of a forward pass: the summed loss and the counts it is normalised by.
    public struct Output {
        /// Σ cross-entropy over labelled positions of this micro-batch.
        public var lossSum: Double
        /// Labelled positions in this micro-batch.
        public var count: Int
        /// Labelled positions whose arg-max is the label.
        public var correct: Int
        public var meanLoss: Double { count > 0 ? lossSum / Double(count) : 0 }
    }

    public let config: BertConfig
    public let store: ParameterStore
    public let embeddings: BertEmbeddings
    public let layers: [BertLayer]
    public let head: MaskedLMHead
    let scratch: BertLayerScratch
    let dHiddenA: FlatBuffer, dHiddenB: FlatBuffer
    public let maxBatch: Int, maxTokens: Int

    public init(config c: BertConfig, maxBatch: Int, maxTokens: Int, logits: LogitPositions = .masked) throws {
        try c.validate(maxTokens: maxTokens)
        guard maxBatch >= 1 else { throw ModelError.invalidArchitecture("batch capacity must be at least 1") }
        config = c
        self.maxBatch = maxBatch
        self.maxTokens = maxTokens
        var table = ParameterTable()
        let params = try Parameters(&table, config: c)
        store = ParameterStore(table: table)
        let n = maxBatch * maxTokens
        embeddings = BertEmbeddings(params.embeddings, config: c, maxRows: n)
        layers = params.layers.enumerated().map {
            BertLayer($0.element, index: $0.offset, config: c, maxBatch: maxBatch, maxTokens: maxTokens)
        }
        head = MaskedLMHead(params.head, wordEmbeddings: params.embeddings.word, config: c, maxRows: n, positions: logits)
        scratch = BertLayerScratch(config: c, maxRows: n, maxTokens: maxTokens)
        dHiddenA = FlatBuffer(count: n * c.hiddenSize)
        dHiddenB = FlatBuffer(count: n * c.hiddenSize)
    }

    /// Initialises parameters as DESIGN §2 says and zeroes the `[PAD]` row of the word
    /// embeddings (as Hugging Face does for `padding_idx`).
    public func initializeParameters(seed: UInt64) throws {
        store.initialize(seed: seed)
        let word = try store.values("lm.embeddings.word_embeddings.weight")
        let d = config.hiddenSize
        for i in 0..<d { word[config.padTokenId * d + i] = 0 }
    }

    /// [B·T, d] the encoder's last hidden state after `forward` or `encode`.
    public var lastHiddenState: UnsafePointer<Float> {
        UnsafePointer(layers.last?.output.pointer ?? embeddings.output.pointer)
    }

    /// Runs embeddings and all layers (no head).
    public func encode(_ batch: TokenBatch, mode: ForwardMode, profiler: Profiler? = nil) {
        let params = store.values.pointer
        profiler?.begin(.embeddings)
        embeddings.forward(batch: batch, params: params, mode: mode)
        var x = UnsafePointer(embeddings.output.pointer)
        for layer in layers {
            layer.forward(x: x, batch: batch, params: params, mode: mode, profiler: profiler)
            x = UnsafePointer(layer.output.pointer)
        }
    }

    /// Forward through the encoder and the MLM head.
    public func forward(_ batch: TokenBatch, mode: ForwardMode, profiler: Profiler? = nil) -> Output {
        encode(batch, mode: mode, profiler: profiler)
        profiler?.begin(.heads)
        let r = head.forward(hidden: lastHiddenState, batch: batch, params: store.values.pointer)
        profiler?.end()
        return Output(lossSum: r.lossSum, count: r.count, correct: r.correct)
    }

    /// Adds into the gradients the derivative of `scale · lossSum` (scale = w_mlm / global
    /// masked count, DESIGN §3). Mirrors `forward` in reverse.
    public func backward(_ batch: TokenBatch, scale: Float, sinks: GradientSinks, profiler: Profiler? = nil) {
        let params = store.values.pointer
        let n = batch.rows, d = config.hiddenSize
        var dOut = dHiddenA.pointer, dIn = dHiddenB.pointer
        dOut.update(repeating: 0, count: n * d)
        profiler?.begin(.heads)
        head.backward(dHidden: dOut, scale: scale, params: params, headGrads: sinks.heads,
                      embeddingGrads: sinks.embeddings)
        let lowestWanting = BertLayer.lowestLayerWantingInputGradient(layers, sinks: sinks)
        for (i, layer) in layers.enumerated().reversed() {
            let wanted = i >= lowestWanting
            if wanted { dIn.update(repeating: 0, count: n * d) }
            layer.backward(dInput: wanted ? dIn : nil, dOutput: dOut, batch: batch, params: params,
                           attentionGrads: sinks.attention, ffnGrads: sinks.ffn, scratch: scratch, profiler: profiler)
            swap(&dOut, &dIn)
        }
        profiler?.begin(.embeddings)
        embeddings.backward(dOutput: dOut, batch: batch, params: params, grads: sinks.embeddings)
        profiler?.end()
    }
}
