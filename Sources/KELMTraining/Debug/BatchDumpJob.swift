import Foundation
import KELMCheckpoint
import KELMModel
import KELMNumerics

/// `kelm-dist debug dump-batch`: builds one batch, runs forward and backward with dropout off
/// and writes the file of DESIGN §9, so the model can be checked against other code
/// (`Tests/Fixtures/fusion_reference.py replay`).
///
/// Until the data pipeline provides batches the batch is synthetic (`SyntheticFusionBatch`):
/// R relations and a random entity memory of `entities` rows.
public struct BatchDumpJob {
    public var config: KELMConfig
    /// A Hugging Face BERT folder whose architecture and weights initialise the LM (and MLM head).
    public var initFrom: String?
    public var output: String
    public var relations = 20
    public var entities = 5000
    public var batch: Int?
    public var seed: UInt64 = 0

    public init(config: KELMConfig, initFrom: String?, output: String) {
        self.config = config
        self.initFrom = initFrom
        self.output = output
    }

    public struct Summary: Sendable {
        public var loss: Double, mlmLoss: Double, lpLoss: Double
        public var parameters: Int, nodes: Int, edges: Int, positives: Int
    }

    public func run() throws -> Summary {
        var config = self.config
        var weights: SafetensorsFile? = nil
        if let dir = initFrom ?? config.model.initFrom {
            let pretrained = try HuggingFaceBert.open(directory: try KELMConfig.pretrainedDirectory(dir))
            config.adoptArchitecture(of: pretrained.config)
            weights = pretrained.weights
        }
        let fusion = config.fusionConfig(numRelations: relations)
        let B = batch ?? config.train.microBatch, T = config.model.maxTokens
        var synthetic = SyntheticFusionBatch(batch: B, tokens: T, nodesPerGraph: config.model.maxNodes, entities: entities)
        synthetic.seed = seed
        let cap = synthetic.capacity
        let model = try FusionModel(config: fusion, maxBatch: B, maxTokens: T, maxNodes: cap.nodes,
                                    maxEdges: cap.edges, maxPositives: cap.positives)
        try model.initializeParameters(seed: seed)
        if let weights { try HuggingFaceBert.loadWeights(from: weights, into: model.store) }
        let text = TokenBatch(capacityBatch: B, capacityTokens: T)
        let graph = GraphBatch(capacityGraphs: B, capacityNodes: cap.nodes, capacityEdges: cap.edges)
        let links = LinkBatch(capacity: cap.positives)
        try synthetic.fill(text: text, graph: graph, links: links, config: fusion)
        let d = fusion.bert.hiddenSize
        let memory = FlatBuffer(count: entities * d)
        var rng = RandomStream(RandomKey(seed: seed, purpose: .benchmark, stream: 2))
        for i in 0..<memory.count { memory.pointer[i] = 0.5 * rng.nextNormal() }
        let out = model.forward(text: text, graph: graph, links: links, memory: memory.pointer, mode: .inference)
        let norm = LossNormalization(mlmCount: out.mlmCount, lpCount: out.lpCount,
                                     mlmWeight: Float(config.train.mlmWeight), lpWeight: Float(config.train.lpWeight))
        model.store.zeroGrads()
        model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: .all(model.store.grads.pointer))
        try BatchDump.write(to: output, configJSON: try config.canonicalJSON(), model: model, text: text,
                            mentionMask: [Int32](repeating: 0, count: text.rows), graph: graph, links: links,
                            memory: memory.pointer, entityCount: entities, output: out, normalization: norm)
        return Summary(loss: norm.total(mlmSum: out.mlmLossSum, lpSum: out.lpLossSum), mlmLoss: norm.mlmLoss(out.mlmLossSum),
                       lpLoss: norm.lpLoss(out.lpLossSum), parameters: model.store.table.count, nodes: graph.nodes,
                       edges: graph.edges, positives: links.count)
    }
}
