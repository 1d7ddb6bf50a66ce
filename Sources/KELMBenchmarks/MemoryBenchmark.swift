import Foundation
import KELMTraining
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMData
import KELMMemory
import KELMModel
import KELMNumerics

/// `kelm-dist bench memory` (the JAKET memory issue): the time of a refresh of the entity memory
/// against |E| and the number of ranks (each rank encodes its block of descriptions through LM1,
/// `MPI_Allgatherv`, the momentum update), and what the refresh schedule saves against encoding
/// the descriptions of every step's subgraph entities on the fly.
public struct MemoryBenchmark {
    public struct Options: Sendable {
        /// The run's configuration: architecture, data, `memory.*` and `train.steps`.
        public var config: KELMConfig
        /// Entities refreshed by the timed refresh (the first ones by id); nil: every entity.
        public var entities: Int?
        /// Timed refreshes (the median is reported); one untimed refresh comes first.
        public var repeats = 3
        /// Steps whose global batches are counted for the on-the-fly comparison.
        public var sampleSteps = 20

        public init(config: KELMConfig) { self.config = config }
    }

    public struct Result: Codable, Sendable {
        public var benchmark = "memory"
        public var ranks: Int
        /// Entities in the data, and those the timed refresh covered.
        public var entities_total: Int
        public var entities: Int
        public var width: Int
        /// L − K, the LM1 layers a description goes through.
        public var lm1_layers: Int
        public var description_tokens: Int
        public var dtype: String
        /// One copy of M: |E| · d · (4 or 2) bytes.
        public var memory_bytes: Int
        /// Median seconds of a refresh of `entities` entities (the slowest rank's).
        public var refresh_s: Double
        public var entities_per_s: Double
        /// The run's schedule over `steps` steps: refreshes and the entities each covers.
        public var steps: Int
        public var refreshes: Int
        public var entities_per_refresh: Int
        /// Refresh seconds per training step, amortised over the run (at the measured rate).
        public var refresh_s_per_step: Double
        /// Entity nodes in a global batch (mean over the sampled steps), and the seconds to
        /// encode their descriptions on the fly every step (at the measured rate, split over the ranks).
        public var entity_nodes_per_step: Double
        public var onthefly_s_per_step: Double
        /// onthefly_s_per_step / refresh_s_per_step: how much less encoding the memory does.
        public var encoding_saving: Double

        public var report: String {
            let rows: [(String, String)] = [
                ("ranks", "\(ranks)"),
                ("entities refreshed", "\(entities) of \(entities_total) (d \(width), \(lm1_layers) LM1 layers, \(description_tokens) tokens max)"),
                ("memory", "\(dtype), \(memory_bytes) bytes per node"),
                ("refresh_s", String(format: "%.3f s (%.0f entities/s)", refresh_s, entities_per_s)),
                ("schedule", "\(refreshes) refreshes of \(entities_per_refresh) entities over \(steps) steps: \(String(format: "%.4f", refresh_s_per_step)) s per step"),
                ("on the fly", String(format: "%.1f entity nodes per step: %.4f s per step", entity_nodes_per_step, onthefly_s_per_step)),
                ("encoding saving", String(format: "%.1f×", encoding_saving)),
            ]
            return rows.map { "\($0.0): \($0.1)" }.joined(separator: "\n")
        }
    }

    public let options: Options

    public init(options: Options) { self.options = options }

    /// Runs on every rank of `collective` (collective calls); every rank returns the same result.
    public func run(collective: Collective, log: (String) -> Void = { _ in }) throws -> Result {
        var config = options.config
        if let dir = config.model.initFrom {
            // the pretrained architecture (the weights do not change the timing)
            config.adoptArchitecture(of: try HuggingFaceBert.open(directory: try KELMConfig.pretrainedDirectory(dir)).config)
        }
        let data = try config.trainingData()
        let c = config.fusionConfig(numRelations: data.numRelations)
        var table = ParameterTable()
        let lm = try BertMaskedLM.Parameters(&table, config: c.bert)
        let store = ParameterStore(table: table)
        store.initialize(seed: UInt64(config.data.seed))
        let E = data.entityCount, count = min(options.entities ?? E, E)
        guard count > 0 else { throw TrainingError.noData("no entities to refresh") }
        let dtype = config.memory.dtype.storage
        let encoder = DescriptionEncoder(parameters: lm, config: c.bert, layerCount: c.firstFusionLayer,
                                         tokens: config.memory.descriptionTokens)
        let memory = EntityContextMemory(entityCount: E, width: c.bert.hiddenSize, dtype: dtype)
        let ids = Array(0..<count)
        var times: [Double] = []
        for r in 0...max(1, options.repeats) {
            try collective.barrier()
            let start = Profiler.now()
            try memory.refresh(entities: ids, momentum: Float(config.memory.momentum), encoder: encoder, source: data,
                               params: store.values.pointer, collective: collective)
            var ns: [Int64] = [Int64(Profiler.now() - start)]
            try ns.withUnsafeMutableBufferPointer { try collective.allReduceMax($0) }
            if r > 0 { times.append(Double(ns[0]) * 1e-9) }
            log(String(format: "refresh %d of %d entities: %.3f s%@", r, count, Double(ns[0]) * 1e-9, r == 0 ? " (warm-up)" : ""))
        }
        let refresh = times.sorted()[times.count / 2]
        let perEntity = refresh / Double(count)

        // the run's schedule: how many refreshes over train.steps, each covering how many entities
        let candidates = config.memory.scope == .reachable ? data.reachableEntities.count : E
        let covered = config.memory.refresh == .full ? candidates : min(config.memory.blockEntities, candidates)
        var schedule = RefreshSchedule(initialInterval: config.memory.initInterval, growth: config.memory.growth,
                                       repeats: config.memory.repeats, maxInterval: config.memory.maxInterval)
        let steps = config.train.steps
        var refreshes = 0
        while schedule.nextRefreshStep < steps {
            refreshes += 1
            schedule.recordRefresh(at: schedule.nextRefreshStep)
        }
        let refreshPerStep = Double(refreshes * covered) * perEntity / Double(max(1, steps))

        // entity nodes a global batch brings: on the fly, each rank would encode its share every step
        let B = config.train.microBatch, A = config.train.accumulation
        let order = SampleOrder(sampleCount: data.segmentCount, microBatch: B, worldSize: collective.size,
                                accumulation: A, seed: UInt64(config.data.seed))
        let batch = FusionBatch(batch: B, tokens: config.model.maxTokens, nodesPerSegment: data.nodesPerSegment,
                                edgesPerSegment: data.edgesPerSegment)
        var nodes = 0
        let sampled = max(1, min(options.sampleSteps, order.stepsPerEpoch))
        for step in 0..<sampled {
            for rank in 0..<collective.size {
                for micro in 0..<A {
                    try data.fill(batch, step: step, microStep: micro, rank: rank, order: order)
                    for v in 0..<batch.graph.nodes where batch.graph.nodeEntity.pointer[v] >= 0 { nodes += 1 }
                }
            }
        }
        let nodesPerStep = Double(nodes) / Double(sampled)
        let onTheFly = nodesPerStep * perEntity
        return Result(ranks: collective.size, entities_total: E, entities: count, width: c.bert.hiddenSize,
                      lm1_layers: c.firstFusionLayer, description_tokens: config.memory.descriptionTokens,
                      dtype: dtype.rawValue,
                      memory_bytes: EntityContextMemory.bytes(entityCount: E, width: c.bert.hiddenSize, dtype: dtype),
                      refresh_s: refresh, entities_per_s: Double(count) / refresh, steps: steps, refreshes: refreshes,
                      entities_per_refresh: covered, refresh_s_per_step: refreshPerStep, entity_nodes_per_step: nodesPerStep,
                      onthefly_s_per_step: onTheFly, encoding_saving: refreshPerStep > 0 ? onTheFly / refreshPerStep : 0)
    }
}
