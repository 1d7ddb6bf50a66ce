import KELMNumerics

/// The global counts that normalise the losses and the weights of the two objectives
/// (DESIGN §3): MLM = Σ CE / masked count, LP = Σ terms / positive count, both over the whole
/// global batch (all ranks, all micro-batches); total = w_mlm · MLM + w_lp · LP.
public struct LossNormalization: Equatable, Sendable {
    public var mlmCount: Int
    public var lpCount: Int
    public var mlmWeight: Float
    public var lpWeight: Float

    public init(mlmCount: Int, lpCount: Int, mlmWeight: Float = 1, lpWeight: Float = 1) {
        self.mlmCount = mlmCount
        self.lpCount = lpCount
        self.mlmWeight = mlmWeight
        self.lpWeight = lpWeight
    }

    /// Gradient scale of the MLM loss sum (0 when nothing is masked).
    public var mlmScale: Float { mlmCount > 0 ? mlmWeight / Float(mlmCount) : 0 }
    /// Gradient scale of the LP loss sum (0 when there are no positives: the loss is 0).
    public var lpScale: Float { lpCount > 0 ? lpWeight / Float(lpCount) : 0 }

    public func mlmLoss(_ sum: Double) -> Double { mlmCount > 0 ? sum / Double(mlmCount) : 0 }
    public func lpLoss(_ sum: Double) -> Double { lpCount > 0 ? sum / Double(lpCount) : 0 }
    public func total(mlmSum: Double, lpSum: Double) -> Double {
        Double(mlmWeight) * mlmLoss(mlmSum) + Double(lpWeight) * lpLoss(lpSum)
    }
}

/// The DRAGON-style fusion model (DESIGN §2): BERT layers 0…L−K−1 on text alone, then K
/// fusion layers (BertLayer; GNNLayer; MInt), the MLM head on the text and the link-prediction
/// head on the final node states. Parameters in one table: lm.*, mlm.*, gnn.*, mint.*, linkpred.*.
public final class FusionModel {
    public struct Parameters {
        public let lm: BertMaskedLM.Parameters
        public let nodeInput: NodeInput.Parameters
        public let edgeEncoder: EdgeEncoder.Parameters
        public let gnnLayers: [GNNLayer.Parameters]
        public let final: FinalNodeStates.Parameters
        public let mint: MInt.Parameters
        public let linkPrediction: LinkPredictionHead.Parameters

        public init(_ t: inout ParameterTable, config c: FusionConfig) throws {
            lm = try BertMaskedLM.Parameters(&t, config: c.bert)
            nodeInput = try NodeInput.Parameters(&t, config: c)
            edgeEncoder = try EdgeEncoder.Parameters(&t, config: c)
            gnnLayers = try (0..<c.fusionLayers).map { try GNNLayer.Parameters(&t, layer: $0, config: c) }
            final = try FinalNodeStates.Parameters(&t, config: c)
            mint = try MInt.Parameters(&t, config: c)
            linkPrediction = try LinkPredictionHead.Parameters(&t, config: c)
        }
    }

    public struct Output {
        public var mlmLossSum: Double
        public var mlmCount: Int
        public var mlmCorrect: Int
        public var lpLossSum: Double
        public var lpCount: Int
    }

    public let config: FusionConfig
    public let store: ParameterStore
    /// Where each tensor lives in `store`.
    public let parameters: Parameters
    public let embeddings: BertEmbeddings
    public let layers: [BertLayer]
    public let mlmHead: MaskedLMHead
    public let nodeInput: NodeInput
    public let edgeEncoder: EdgeEncoder
    public let gnnLayers: [GNNLayer]
    /// One activation holder per fusion layer; all share the `mint.*` parameters.
    public let mint: [MInt]
    public let finalStates: FinalNodeStates
    public let linkHead: LinkPredictionHead
    let hFused: [FlatBuffer], xFused: [FlatBuffer]
    let bertScratch: BertLayerScratch, gnnScratch: GNNLayerScratch
    let dHA: FlatBuffer, dHB: FlatBuffer, dXA: FlatBuffer, dXB: FlatBuffer, dX0: FlatBuffer, dNodes: FlatBuffer
    public let maxBatch: Int, maxTokens: Int, maxNodes: Int, maxEdges: Int, maxPositives: Int

    public init(config c: FusionConfig, maxBatch: Int, maxTokens: Int, maxNodes: Int, maxEdges: Int,
                maxPositives: Int, logits: LogitPositions = .masked) throws {
        try c.validate(maxTokens: maxTokens)
        guard maxBatch >= 1, maxNodes >= maxBatch, maxEdges >= 0, maxPositives >= 0 else {
            throw ModelError.invalidArchitecture("capacities: batch \(maxBatch), nodes \(maxNodes), edges \(maxEdges), positives \(maxPositives)")
        }
        config = c
        self.maxBatch = maxBatch
        self.maxTokens = maxTokens
        self.maxNodes = maxNodes
        self.maxEdges = maxEdges
        self.maxPositives = maxPositives
        var table = ParameterTable()
        let p = try Parameters(&table, config: c)
        parameters = p
        store = ParameterStore(table: table)
        let n = maxBatch * maxTokens
        embeddings = BertEmbeddings(p.lm.embeddings, config: c.bert, maxRows: n)
        layers = p.lm.layers.enumerated().map {
            BertLayer($0.element, index: $0.offset, config: c.bert, maxBatch: maxBatch, maxTokens: maxTokens)
        }
        mlmHead = MaskedLMHead(p.lm.head, wordEmbeddings: p.lm.embeddings.word, config: c.bert, maxRows: n, positions: logits)
        nodeInput = NodeInput(p.nodeInput, config: c, maxNodes: maxNodes)
        let encoder = EdgeEncoder(p.edgeEncoder, config: c)
        edgeEncoder = encoder
        gnnLayers = p.gnnLayers.enumerated().map {
            GNNLayer($0.element, index: $0.offset, nodeType: p.nodeInput.nodeType, config: c,
                     maxNodes: maxNodes, maxEdges: maxEdges, kinds: encoder.kinds)
        }
        mint = (0..<c.fusionLayers).map { _ in MInt(p.mint, config: c, maxBatch: maxBatch) }
        finalStates = FinalNodeStates(p.final, config: c, maxNodes: maxNodes)
        linkHead = LinkPredictionHead(p.linkPrediction, config: c, maxNodes: maxNodes, maxPositives: maxPositives)
        hFused = (0..<c.fusionLayers).map { _ in FlatBuffer(count: n * c.bert.hiddenSize) }
        xFused = (0..<c.fusionLayers).map { _ in FlatBuffer(count: maxNodes * c.gnnHidden) }
        bertScratch = BertLayerScratch(config: c.bert, maxRows: n, maxTokens: maxTokens)
        gnnScratch = GNNLayerScratch(config: c, maxNodes: maxNodes, maxEdges: maxEdges, kinds: encoder.kinds)
        dHA = FlatBuffer(count: n * c.bert.hiddenSize); dHB = FlatBuffer(count: n * c.bert.hiddenSize)
        dXA = FlatBuffer(count: maxNodes * c.gnnHidden); dXB = FlatBuffer(count: maxNodes * c.gnnHidden)
        dX0 = FlatBuffer(count: maxNodes * c.gnnHidden); dNodes = FlatBuffer(count: maxNodes * c.gnnHidden)
    }

    /// Initialises parameters as DESIGN §2 says ([PAD] row of the word embeddings zeroed).
    public func initializeParameters(seed: UInt64) throws {
        store.initialize(seed: seed)
        let word = try store.values("lm.embeddings.word_embeddings.weight")
        let d = config.bert.hiddenSize
        for i in 0..<d { word[config.bert.padTokenId * d + i] = 0 }
    }

    /// [B·T, d] the LM's final hidden state (input of the MLM head).
    public var lastHiddenState: UnsafePointer<Float> {
        config.fusionLayers == 0 ? UnsafePointer(layers[config.bert.numLayers - 1].output.pointer)
                                 : UnsafePointer(hFused[config.fusionLayers - 1].pointer)
    }
    /// [N, d_g] the final node states n.
    public var nodeStates: UnsafePointer<Float> { UnsafePointer(finalStates.output.pointer) }

    /// Forward through everything with a float32 M, [|E|, d].
    public func forward(text: TokenBatch, graph: GraphBatch, links: LinkBatch, memory: UnsafePointer<Float>,
                        mode: ForwardMode, profiler: Profiler? = nil) -> Output {
        forward(text: text, graph: graph, links: links, memory: EntityRows(memory, width: config.bert.hiddenSize),
                mode: mode, profiler: profiler)
    }

    /// Forward through everything; `memory` is M, [|E|, d], float32 or float16.
    public func forward(text: TokenBatch, graph: GraphBatch, links: LinkBatch, memory: EntityRows,
                        mode: ForwardMode, profiler: Profiler? = nil) -> Output {
        precondition(graph.graphs == text.batch, "one subgraph per segment")
        let params = store.values.pointer, c = config
        profiler?.begin(.embeddings)
        embeddings.forward(batch: text, params: params, mode: mode)
        var h = UnsafePointer(embeddings.output.pointer)
        for i in 0..<c.firstFusionLayer {
            layers[i].forward(x: h, batch: text, params: params, mode: mode, profiler: profiler)
            h = UnsafePointer(layers[i].output.pointer)
        }
        profiler?.begin(.gnn)
        nodeInput.forward(graph: graph, memory: memory, params: params)
        edgeEncoder.forward(params: params)
        var x = UnsafePointer(nodeInput.output.pointer)
        for j in 0..<c.fusionLayers {
            let layer = layers[c.firstFusionLayer + j]
            layer.forward(x: h, batch: text, params: params, mode: mode, profiler: profiler)
            profiler?.begin(.gnn)
            gnnLayers[j].forward(x: x, graph: graph, edges: edgeEncoder, text: text, params: params, mode: mode)
            profiler?.begin(.mint)
            mint[j].forward(hFused: hFused[j].pointer, xFused: xFused[j].pointer, hPre: layer.output.pointer,
                            xPre: gnnLayers[j].output.pointer, text: text, graph: graph, params: params)
            h = UnsafePointer(hFused[j].pointer)
            x = UnsafePointer(xFused[j].pointer)
        }
        profiler?.begin(.heads)
        let mlm = mlmHead.forward(hidden: h, batch: text, params: params)
        finalStates.forward(x0: nodeInput.output.pointer, xK: x, nodes: graph.nodes, params: params)
        let lp = linkHead.forward(nodeStates: finalStates.output.pointer, nodes: graph.nodes, links: links, params: params)
        profiler?.end()
        return Output(mlmLossSum: mlm.lossSum, mlmCount: mlm.count, mlmCorrect: mlm.correct,
                      lpLossSum: lp, lpCount: links.count)
    }

    /// Adds into the gradients the derivative of w_mlm·MLM + w_lp·LP normalised by the global
    /// counts in `normalization`. The reverse of `forward`, step by step.
    /// `progress` hears each `BackwardStage` as it completes (in `backwardStages` order).
    public func backward(text: TokenBatch, graph: GraphBatch, links: LinkBatch, normalization: LossNormalization,
                         sinks: GradientSinks, progress: BackwardProgress? = nil, profiler: Profiler? = nil) {
        let params = store.values.pointer, c = config
        let n = text.rows, d = c.bert.hiddenSize, N = graph.nodes, g = c.gnnHidden
        var dH = dHA.pointer, dHIn = dHB.pointer, dX = dXA.pointer, dXIn = dXB.pointer
        dH.update(repeating: 0, count: n * d)
        dX.update(repeating: 0, count: N * g)
        dX0.pointer.update(repeating: 0, count: N * g)
        dNodes.pointer.update(repeating: 0, count: N * g)
        edgeEncoder.dTable.zero()
        let lowestWanting = BertLayer.lowestLayerWantingInputGradient(layers, sinks: sinks)
        profiler?.begin(.heads)
        mlmHead.backward(dHidden: dH, scale: normalization.mlmScale, params: params, headGrads: sinks.heads,
                         embeddingGrads: sinks.embeddings)
        linkHead.backward(dNodeStates: dNodes.pointer, nodes: N, links: links, scale: normalization.lpScale,
                          params: params, grads: sinks.heads)
        progress?.completed(.heads)
        finalStates.backward(dX0: dX0.pointer, dXK: dX, dOutput: dNodes.pointer, nodes: N, params: params, grads: sinks.gnn)
        progress?.poll()
        for j in stride(from: c.fusionLayers - 1, through: 0, by: -1) {
            profiler?.begin(.mint)
            mint[j].backward(dH: dH, dX: dX, text: text, graph: graph, params: params, grads: sinks.mint)
            progress?.poll()
            profiler?.begin(.gnn)
            // the first fusion layer's GNN input is x⁰
            let dXTarget = j == 0 ? dX0.pointer : dXIn
            if j > 0 { dXIn.update(repeating: 0, count: N * g) }
            gnnLayers[j].backward(dInput: dXTarget, dOutput: dX, graph: graph, edges: edgeEncoder, params: params,
                                  grads: sinks.gnn, scratch: gnnScratch)
            progress?.poll()
            let wanted = c.firstFusionLayer + j >= lowestWanting
            if wanted { dHIn.update(repeating: 0, count: n * d) }
            layers[c.firstFusionLayer + j].backward(dInput: wanted ? dHIn : nil, dOutput: dH, batch: text, params: params,
                                                    attentionGrads: sinks.attention, ffnGrads: sinks.ffn,
                                                    scratch: bertScratch, progress: progress, profiler: profiler)
            progress?.completed(.lmLayer(c.firstFusionLayer + j))
            swap(&dH, &dHIn)
            swap(&dX, &dXIn)
        }
        profiler?.begin(.gnn)
        // K = 0: the final node states read x⁰ twice (as x⁰ and as x^K)
        if c.fusionLayers == 0 {
            let a = dX0.pointer, b = UnsafePointer(dX)
            for i in 0..<(N * g) { a[i] += b[i] }
        }
        edgeEncoder.backward(params: params, grads: sinks.gnn)
        nodeInput.backward(dOutput: dX0.pointer, graph: graph, params: params, grads: sinks.gnn)
        progress?.completed(.graph)
        for i in stride(from: c.firstFusionLayer - 1, through: 0, by: -1) {
            let wanted = i >= lowestWanting
            if wanted { dHIn.update(repeating: 0, count: n * d) }
            layers[i].backward(dInput: wanted ? dHIn : nil, dOutput: dH, batch: text, params: params,
                               attentionGrads: sinks.attention, ffnGrads: sinks.ffn, scratch: bertScratch,
                               progress: progress, profiler: profiler)
            progress?.completed(.lmLayer(i))
            swap(&dH, &dHIn)
        }
        profiler?.begin(.embeddings)
        embeddings.backward(dOutput: dH, batch: text, params: params, grads: sinks.embeddings,
                            wordRows: sinks.wordEmbeddingRows)
        progress?.completed(.embeddings)
        profiler?.end()
    }
}
