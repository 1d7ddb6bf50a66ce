import Foundation
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMData
import KELMHDF5
import KELMMemory
import KELMModel
import KELMNumerics

/// Evaluates a checkpoint (`kelm-dist eval`): the model's architecture comes from the
/// configuration stored in the checkpoint, its parameters and entity memory from the file,
/// the data from `dataPath` (default: the checkpoint's `data.path`).
public struct CheckpointEvaluation {
    /// A checkpoint file, or a run directory (its `latest`).
    public var checkpoint: String
    /// A prepared dataset (directory or file); nil: the `data.path` the checkpoint was trained on.
    public var dataPath: String?
    public var split: DataSplit = .valid
    /// Options; `seed` and `maxNodes` are taken from the checkpoint's configuration unless
    /// `keepSeedAndNodes` is set. A nil `batch` means the checkpoint's `train.micro_batch`.
    public var options = EvaluationOptions()
    public var keepSeedAndNodes = false

    public init(checkpoint: String) {
        self.checkpoint = checkpoint
    }

    /// What was evaluated, besides the result.
    public struct Outcome {
        public var result: EvaluationResult
        /// The checkpoint file read.
        public var checkpoint: String
        public var step: Int
        public var dataPath: String
        public var config: KELMConfig
    }

    /// Loads and evaluates on every rank of `collective` (each rank reads the checkpoint);
    /// `log` hears progress.
    public func run(collective: Collective, log: @escaping (String) -> Void = { _ in }) throws -> Outcome {
        let file = try Checkpoint.resolve(checkpoint)
        let (f, header) = try Checkpoint.open(file)
        var closed = false
        defer { if !closed { try? f.close() } }
        let config: KELMConfig
        do {
            config = try KELMConfig(json: header.configJSON)
        } catch {
            throw CheckpointError(file: file, item: "attribute config", "\(error)")
        }
        guard let path = dataPath ?? config.data.path, path != KELMConfig.syntheticDataPath else {
            throw EvaluationError.mismatch("checkpoint \(file) was trained on \(config.data.path ?? "no data.path"): give a prepared dataset with --data DIR")
        }
        let dataset = try DatasetFile(path: path)
        // the architecture is the checkpoint's; R must match the dataset's
        let relationPath = "/params/linkpred/relation/weight"
        guard try f.exists(relationPath) else { throw CheckpointError(file: file, item: relationPath, "missing") }
        let relationShape = try f.withDataset(relationPath) { try $0.shape() }
        guard relationShape.first == dataset.relationCount else {
            throw EvaluationError.mismatch("checkpoint \(file) was trained with \(relationShape.first ?? 0) relations, but \(path) has \(dataset.relationCount): evaluate on the dataset it was trained on")
        }
        guard dataset.vocabularySize == config.model.vocabSize else {
            throw EvaluationError.mismatch("\(path): the dataset's vocabulary has \(dataset.vocabularySize) tokens, the checkpoint's model \(config.model.vocabSize)")
        }
        if let stored = header.vocabularyDigest, stored != dataset.vocabularyDigest {
            throw EvaluationError.mismatch("\(path): the dataset's vocabulary (digest \(dataset.vocabularyDigest)) is not the one the checkpoint trained on (digest \(stored)); evaluate on the dataset of the run")
        }
        guard dataset.maxTokens <= config.model.maxTokens else {
            throw EvaluationError.mismatch("\(path): segments of up to \(dataset.maxTokens) tokens, more than the checkpoint's model.max_tokens \(config.model.maxTokens)")
        }
        var options = self.options
        if !keepSeedAndNodes {
            options.seed = UInt64(config.data.seed)
            options.maxNodes = config.model.maxNodes
        }
        let B = options.batch ?? config.train.microBatch, J = options.maxNodes
        options.batch = B
        let fusion = config.fusionConfig(numRelations: dataset.relationCount)
        let model = try FusionModel(config: fusion, maxBatch: B, maxTokens: config.model.maxTokens, maxNodes: B * J,
                                    maxEdges: B * 32 * J, maxPositives: B * 100)
        try Checkpoint.read("params", from: f, into: model.store.values, table: model.store.table)
        let d = fusion.bert.hiddenSize, E = dataset.entityCount
        let memory: EntityContextMemory
        if let stored = header.memoryDType {
            // the stored rows as they are (a float16 memory stays float16)
            memory = EntityContextMemory(entityCount: E, width: d, dtype: stored)
            try Checkpoint.readMemory(from: f, into: memory.storage, entities: E, width: d)
        } else if config.memory.features == .random {
            // a weights-only file of a run with fixed random features: draw them again (same seed, same rows)
            memory = EntityContextMemory(entityCount: E, width: d, dtype: config.memory.dtype.storage)
            try memory.fillRandom(seed: UInt64(config.data.seed))
        } else {
            // a weights-only file: the memory as at step 0 (every description through LM1), in
            // the stored configuration's memory.dtype
            log("\(file) holds no entity memory: encoding the \(E) descriptions as at step 0")
            let source = try DatasetTrainingData(path: path, maxNodes: J, seed: options.seed, anchor: config.memory.anchor.descriptions)
            let encoder = DescriptionEncoder(parameters: model.parameters.lm, config: fusion.bert, layerCount: fusion.firstFusionLayer,
                                              tokens: config.memory.descriptionTokens)
            memory = EntityContextMemory(entityCount: E, width: d, dtype: config.memory.dtype.storage)
            try memory.fill(encoder: encoder, source: source, params: model.store.values.pointer, collective: collective)
        }
        try f.close()
        closed = true
        let evaluator = try Evaluator(model: model, data: try EvaluationData(dataset: dataset, split: split), options: options)
        evaluator.log = log
        let result = try evaluator.evaluate(memory: memory.rows, collective: collective, step: header.step)
        return Outcome(result: result, checkpoint: file, step: header.step, dataPath: path, config: config)
    }
}
