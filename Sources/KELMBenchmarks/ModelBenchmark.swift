import KELMTraining
import KELMBatches
import KELMModel
import KELMNumerics

/// `kelm-dist bench model`: the full fusion-model training step (forward, backward, AdamW)
/// on a synthetic batch of the default shape: MiniLM LM, K 3, d_g 128, 4 GNN heads, J 64,
/// T 128, batch 8, R 20, 5000 entities, logits at masked positions.
public struct ModelBenchmark {
    public struct Options: Sendable {
        public var config = FusionConfig(bert: BertConfig.miniLM.withoutDropout, fusionLayers: 3, gnnHidden: 128, gnnHeads: 4, numRelations: 20, gnnDropout: 0)
        public var batch = 8
        public var tokens = 128
        public var nodesPerGraph = 64
        public var entities = 5000
        /// Compute threads (`OpenBLAS.setThreads`).
        public var threads = 1
        /// Also time every kernel (`KernelProfile`).
        public var profileKernels = false
        public var warmupSteps = 3
        public var steps = 15
        public var seed: UInt64 = 0

        public init() {}
    }

    public let options: Options

    public init(options: Options) { self.options = options }

    public func run(progress: (String) -> Void = { _ in }) throws -> BenchmarkResult {
        let o = options, c = o.config
        OpenBLAS.setThreads(o.threads)
        var synthetic = SyntheticFusionBatch(batch: o.batch, tokens: o.tokens, nodesPerGraph: o.nodesPerGraph, entities: o.entities)
        synthetic.seed = o.seed
        let cap = synthetic.capacity
        let model = try FusionModel(config: c, maxBatch: o.batch, maxTokens: o.tokens, maxNodes: cap.nodes,
                                    maxEdges: cap.edges, maxPositives: cap.positives)
        try model.initializeParameters(seed: o.seed)
        let text = TokenBatch(capacityBatch: o.batch, capacityTokens: o.tokens)
        let graph = GraphBatch(capacityGraphs: o.batch, capacityNodes: cap.nodes, capacityEdges: cap.edges)
        let links = LinkBatch(capacity: cap.positives)
        try synthetic.fill(text: text, graph: graph, links: links, config: c)
        let memory = FlatBuffer(count: o.entities * c.bert.hiddenSize)
        var rng = RandomStream(RandomKey(seed: o.seed, purpose: .benchmark, stream: 2))
        for i in 0..<memory.count { memory.pointer[i] = 0.5 * rng.nextNormal() }
        let optimizer = AdamW(table: model.store.table)
        let rates = [Float](repeating: 1e-4, count: model.store.table.entries.count)
        let mode = ForwardMode(dropout: false, seed: o.seed)
        let loop = BenchmarkLoop(warmupSteps: o.warmupSteps, steps: o.steps, profileKernels: o.profileKernels)
        let profiler = loop.profiler
        let (times, lastLoss) = loop.run(progress: progress) {
            let out = model.forward(text: text, graph: graph, links: links, memory: memory.pointer, mode: mode, profiler: profiler)
            let norm = LossNormalization(mlmCount: out.mlmCount, lpCount: out.lpCount)
            model.backward(text: text, graph: graph, links: links, normalization: norm,
                           sinks: .all(model.store.grads.pointer), profiler: profiler)
            profiler.begin(.optimizer)
            optimizer.update(params: model.store.values, grads: model.store.grads, learningRates: rates,
                             zeroGradients: true)
            profiler.end()
            return norm.total(mlmSum: out.mlmLossSum, lpSum: out.lpLossSum)
        }
        let rows = model.mlmHead.selectedRows
        let flops = FusionFlopCount(config: c, batch: o.batch, tokens: o.tokens, logitRows: rows,
                                    nodes: graph.nodes, edges: graph.edges, positives: links.count)
        let (shapes, weights) = BenchmarkLoop.lmShapes(rows: o.batch * o.tokens, hidden: c.bert.hiddenSize, ffn: c.bert.ffnSize)
        var result = loop.result(benchmark: "model", times: times, lastLoss: lastLoss, flops: flops.total,
                                 tokensPerStep: o.batch * o.tokens, shapes: shapes, weights: weights, threads: o.threads,
                                 batch: o.batch, tokens: o.tokens, logitRows: rows)
        result.graph_nodes = graph.nodes
        result.graph_edges = graph.edges
        result.link_positives = links.count
        result.gflop_per_step_model_defined = flops.modelDefined * 1e-9
        return result
    }
}
