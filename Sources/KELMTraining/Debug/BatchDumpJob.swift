import Foundation
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMMemory
import KELMModel
import KELMNumerics

/// `kelm-dist debug dump-batch`: builds one batch, runs forward and backward with dropout off
/// and writes the file of DESIGN §9, so the model can be checked against other code
/// (`Tests/Fixtures/fusion_reference.py replay`).
///
/// The batch is the first micro-batch of the training data `data.path` names (a prepared
/// dataset, or `synthetic`); without `data.path`, a synthetic corpus with `relations`
/// relations and `entities` entities. The memory rows of the batch's entities are encoded
/// from their descriptions as at step 0; the other rows are zero (they take no part).
public struct BatchDumpJob {
    public var config: KELMConfig
    /// A Hugging Face BERT folder (or `minilm`) whose architecture and weights initialise the LM.
    public var initFrom: String?
    public var output: String
    public var relations = 20
    public var entities = 5000
    public var batch: Int?

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
        if let batch { config.train.microBatch = batch }
        config.train.accumulation = 1
        let data: TrainingData = config.data.path == nil
            ? SyntheticTrainingData(segments: 4 * config.train.microBatch, entities: entities, relations: relations,
                                    vocabSize: config.model.vocabSize, tokens: config.model.maxTokens,
                                    nodesPerSegment: config.model.maxNodes, seed: UInt64(config.data.seed))
            : try config.trainingData()
        let trainer = try Trainer(config: config, data: data, collective: SingleProcess(), initFrom: initFrom, fillMemory: false)
        let model = trainer.model
        // the dump holds the full gradient of every parameter, whatever the routing
        for layer in model.layers { layer.route = nil }
        let fused = FusionBatch(batch: config.train.microBatch, tokens: config.model.maxTokens,
                                nodesPerSegment: data.nodesPerSegment, edgesPerSegment: data.edgesPerSegment)
        try data.fill(fused, step: 0, microStep: 0, rank: 0, order: trainer.order)
        let g = fused.graph
        let used = Array(Set((0..<g.nodes).map { Int(g.nodeEntity.pointer[$0]) }.filter { $0 >= 0 })).sorted()
        let d = model.config.bert.hiddenSize
        let rows = FlatBuffer(count: used.count * d)
        try trainer.descriptionEncoder.encode(entities: used[...], source: data, params: model.store.values.pointer,
                                              output: rows.pointer)
        try trainer.memory.write { storage in
            for (i, e) in used.enumerated() { storage.store(rows.pointer + i * d, at: e * d, count: d) }
        }
        let out = model.forward(text: fused.text, graph: g, links: fused.links, memory: trainer.memory.rows, mode: .inference)
        let norm = LossNormalization(mlmCount: out.mlmCount, lpCount: out.lpCount,
                                     mlmWeight: Float(config.train.mlmWeight), lpWeight: Float(config.train.lpWeight))
        model.store.zeroGrads()
        model.backward(text: fused.text, graph: g, links: fused.links, normalization: norm, sinks: .all(model.store.grads.pointer))
        // the dump holds M as float32 (a float16 memory widened, exactly: the rows the model read)
        let memory = trainer.memory.storage.floats()
        try memory.withUnsafeBufferPointer { m in
            try BatchDump.write(to: output, configJSON: try trainer.config.canonicalJSON(), model: model, text: fused.text,
                                mentionMask: Array(UnsafeBufferPointer(start: fused.mentionMask.pointer, count: fused.text.rows)),
                                graph: g, links: fused.links, memory: m.baseAddress!,
                                entityCount: data.entityCount, output: out, normalization: norm)
        }
        return Summary(loss: norm.total(mlmSum: out.mlmLossSum, lpSum: out.lpLossSum), mlmLoss: norm.mlmLoss(out.mlmLossSum),
                       lpLoss: norm.lpLoss(out.lpLossSum), parameters: model.store.table.count, nodes: g.nodes,
                       edges: g.edges, positives: fused.links.count)
    }
}
