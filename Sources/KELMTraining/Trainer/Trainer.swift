import Foundation
import KELMCheckpoint
import KELMData
import KELMDistributed
import KELMMemory
import KELMModel
import KELMNumerics
import KELMRouting

/// Errors that stop training.
public enum TrainingError: Error, Equatable, CustomStringConvertible {
    case replicaMismatch(rank: Int, what: String)
    case nonFiniteLoss(step: Int, loss: Double)
    case inconsistentParameters(step: Int, parameter: String, rank: Int)
    case noData(String)

    public var description: String {
        switch self {
        case let .replicaMismatch(rank, what):
            return "rank \(rank) differs from rank 0: \(what) (every rank must run the same build, configuration and data)"
        case let .nonFiniteLoss(step, loss):
            return "step \(step): the loss is \(loss) (set train.nonfinite: skip to skip such steps)"
        case let .inconsistentParameters(step, parameter, rank):
            return "step \(step): the replicas have diverged: parameter \(parameter) on rank \(rank) differs from rank 0"
        case let .noData(m): return "no training data: \(m)"
        }
    }
}

/// What one optimizer step measured; the JSON keys of `metrics.jsonl`.
public struct StepMetrics: Codable, Sendable {
    public var step: Int
    public var loss: Double
    public var mlm_loss: Double
    public var lp_loss: Double
    public var mlm_accuracy: Double
    public var lr: Double
    public var grad_norm: Double
    /// Token positions of the global batch (B·T per segment, padding included) per second.
    public var tokens_per_s: Double
    /// Real (non-padding) tokens of the global batch per second.
    public var real_tokens_per_s: Double
    /// Share of the global batch's token positions that are padding.
    public var padding_fraction: Double
    public var time_forward_ms: Double
    public var time_backward_ms: Double
    public var time_comm_exposed_ms: Double
    public var time_optimizer_ms: Double
    public var bytes_allreduced: Int
    public var bytes_dense_equivalent: Int
    public var skipped: Bool
    /// The parameter policy of this step's stage (`full` in the MLM-adaptation stage).
    public var param_policy: String
    /// Milliseconds spent on knowledge-path attribution at this step (absent when it did not run).
    public var attribution_ms: Double?
    /// The entity-memory refresh at the start of this step (absent when none ran): its
    /// milliseconds, the entities it covered and their rate.
    public var memory_refresh_ms: Double?
    public var memory_refreshed_entities: Int?
    public var memory_entities_per_s: Double?
}

/// The data-parallel trainer (DESIGN §3, §5, §6): every rank holds a replica of the fusion
/// model; per step it loads its micro-batches in the global order, all-reduces the loss
/// counts once, runs forward and backward (accumulating), sums the dense gradients over ranks
/// in buckets started during the last backward, clips the global norm and applies AdamW.
public final class Trainer {
    public let config: KELMConfig
    public let fusionConfig: FusionConfig
    public let data: TrainingData
    public let collective: Collective
    public let model: FusionModel
    public let optimizer: AdamW
    public let memory: EntityContextMemory
    public let order: SampleOrder
    /// The policy stages (DESIGN §5): one, or the MLM-adaptation stage under `full` for the first
    /// `train.adapt_steps` steps and then `train.param_policy`.
    public let stages: [PolicyStage]
    /// The first step of the last stage (0 without an adaptation stage).
    public let adaptSteps: Int
    /// The stage of the step about to run (or, after `trainStep`, of the one just run).
    public private(set) var activeStage = 0
    /// The stage's gradient reducer.
    public var reducer: GradientReducer { stages[activeStage].reducer }
    /// The stage's group policies.
    public var policies: GroupPolicies { stages[activeStage].policies }
    let batches: [FusionBatch]
    let peakRates: [Float]
    let schedule: LinearSchedule
    let stageIndex: [BackwardStage: Int]
    /// The word embeddings' input-side gradient rows (nil when the embeddings are frozen):
    /// exchanged after backward, so that the large tied-decoder part is reduced early.
    let wordRows: SparseRows?
    let wordEmbeddings: ParameterEntry
    private var sparseBytes = 0
    /// The word-row exchange's buffers, made once: this rank's row ids, and every rank's ids
    /// and rows ([ranks · capacity], [ranks · capacity, d]).
    private var wordRowIds: [Int64] = []
    private var gatheredWordRowIds: [Int64] = []
    private var gatheredWordRows: FlatBuffer = FlatBuffer(count: 0)
    /// TRELM routing of the LM's FFNs (nil unless the last stage routes `lm.ffn`).
    public let paths: KnowledgePaths?
    /// Whether the FFN layers' backward follows the paths (attached in a stage that routes).
    private var routesAttached = false
    public let routedOptimizer: RoutedAdamW?
    let attribution: IntegratedGradients?
    let routedTensors: [RoutedAdamW.LayerTensors]
    let routedRates: [Float]
    /// Milliseconds of the latest attribution, reported in the step that ran it.
    private var attributionMs: Double? = nil
    public private(set) var step = 0
    /// The entity memory's refresh schedule (DESIGN §4).
    public private(set) var memorySchedule: RefreshSchedule
    public let descriptionEncoder: DescriptionEncoder
    let memoryCandidates: [Int]
    /// When the last backward of the latest step ended, in the reducer's timing frame
    /// (nanoseconds since it began): bucket start times are compared with it.
    public private(set) var backwardEndNanoseconds: UInt64 = 0
    /// Aborts the job when a collective waits too long (set by the training run).
    public var watchdog: CollectiveWatchdog?

    /// `KELM_DEBUG_STALL=rank:step:seconds` makes that rank sleep at the start of that step (to
    /// test the collective watchdog: the other ranks wait in the next collective).
    static func debugStall(rank: Int, step: Int) {
        guard let parts = debugStallSpec, parts[0] == rank, parts[1] == step else { return }
        Thread.sleep(forTimeInterval: Double(parts[2]))
    }

    /// `KELM_DEBUG_STALL` parsed once (reading the environment builds a dictionary of it).
    static let debugStallSpec: [Int]? = {
        guard let spec = ProcessInfo.processInfo.environment["KELM_DEBUG_STALL"] else { return nil }
        let parts = spec.split(separator: ":").compactMap { Int($0) }
        return parts.count == 3 ? parts : nil
    }()

    /// Runs a collective under the watchdog, if any.
    func guarded<T>(_ name: String, _ body: () throws -> T) throws -> T {
        guard let watchdog else { return try body() }
        return try watchdog.guarding(name, step: step, body)
    }

    /// Notes for the start-up log (e.g. what was adjusted), and warnings.
    public private(set) var notes: [String] = []
    public private(set) var warnings: [String] = []

    /// Builds the replica: parameters initialised (seeded, or from the Hugging Face folder
    /// `initFrom`) on rank 0 and broadcast; checks that every rank has the same parameter
    /// table and configuration; fills the entity memory (step 0, DESIGN §4).
    /// `fillMemory` false leaves M at zero (benchmarks that time only the step).
    /// `log` hears start-up progress (the memory fill takes a while on large KGs).
    /// `startUpCheck`, when given, is called on every rank at the same points of start-up (after
    /// the parameters are set, every few batches of the memory fill, after it) with the phase's
    /// name: `TrainingRun` agrees there on a stop signal and throws to end start-up cleanly.
    /// `sharedMemory`, when given, provides storage for M shared by the ranks of a node
    /// (one copy per node, DESIGN §4): called with M's byte count (at `memory.dtype`), it
    /// returns the storage and how the node's ranks coordinate writes.
    public init(config: KELMConfig, data: TrainingData, collective: Collective, initFrom: String? = nil,
                fillMemory: Bool = true, log: (String) -> Void = { _ in },
                sharedMemory: ((Int) throws -> (UnsafeMutableRawPointer, MemorySharing)?)? = nil,
                startUpCheck: ((String) throws -> Void)? = nil) throws {
        var config = config
        var pretrained: (config: BertConfig, weights: SafetensorsFile)? = nil
        if let dir = initFrom ?? config.model.initFrom {
            let folder = try KELMConfig.pretrainedDirectory(dir)
            try Self.requireSameVocabulary(folder: folder, data: data)
            let p = try HuggingFaceBert.open(directory: folder)
            config.adoptArchitecture(of: p.config)
            pretrained = p
        }
        self.config = config
        self.data = data
        self.collective = collective
        let c = config.fusionConfig(numRelations: data.numRelations)
        fusionConfig = c
        let B = config.train.microBatch, T = config.model.maxTokens
        guard data.segmentCount >= B * collective.size * config.train.accumulation else {
            throw TrainingError.noData("\(data.segmentCount) training segments, fewer than one global batch of \(B * collective.size * config.train.accumulation)")
        }
        // what this will take, against what the machine has, before anything is allocated
        try MemoryPlan(config: config, fusion: c, entities: data.entityCount, ranksOnNode: MemoryPlan.localRanks).check()
        model = try FusionModel(config: c, maxBatch: B, maxTokens: T, maxNodes: B * data.nodesPerSegment,
                                maxEdges: B * data.edgesPerSegment, maxPositives: B * 100)
        let table = model.store.table
        try model.initializeParameters(seed: UInt64(config.data.seed))
        var fromPretrained = Set<String>()
        if let pretrained {
            fromPretrained = Set(try HuggingFaceBert.loadWeights(from: pretrained.weights, into: model.store).loaded)
        }
        // rank 0's parameters everywhere, then the same table and configuration everywhere
        try collective.broadcast(model.store.values.buffer, root: 0)
        var mine: [Int64] = [Int64(bitPattern: table.layoutDigest), Int64(bitPattern: try config.fingerprint())]
        let all = try mine.withUnsafeBufferPointer { try collective.allGatherV($0) }
        for r in 0..<collective.size {
            if all[2 * r] != all[0] { throw TrainingError.replicaMismatch(rank: r, what: "parameter table") }
            if all[2 * r + 1] != all[1] { throw TrainingError.replicaMismatch(rank: r, what: "configuration") }
        }
        mine.removeAll()
        try startUpCheck?("setting up the model")

        // the policy stages: `full` for the first train.adapt_steps steps, then the preset
        var presets = [config.train.paramPolicy]
        if config.train.adaptSteps > 0 && config.train.paramPolicy != .full { presets.insert(.full, at: 0) }
        adaptSteps = presets.count > 1 ? config.train.adaptSteps : 0
        let stagePolicies = presets.map { GroupPolicies(preset: $0) }
        let last = stagePolicies[stagePolicies.count - 1]
        peakRates = table.entries.map {
            Float(fromPretrained.contains($0.name) ? config.train.lrPretrained : config.train.lrNew)
        }
        optimizer = AdamW(table: table, hyper: .init(weightDecay: Float(config.train.weightDecay)))
        var stages: [BackwardStage: Int] = [:]
        for (i, s) in model.backwardStages.enumerated() { stages[s] = i }
        stageIndex = stages
        if last[.ffn] == .routed {
            let k = KnowledgePaths(layers: c.bert.numLayers, ffnSize: c.bert.ffnSize, hidden: c.bert.hiddenSize,
                                   fraction: config.routing.fraction, maxRows: B * T)
            paths = k
            routedOptimizer = RoutedAdamW(layers: c.bert.numLayers, ffnSize: c.bert.ffnSize)
            attribution = IntegratedGradients(model: model)
            routedTensors = model.parameters.lm.layers.map { RoutedAdamW.LayerTensors($0) }
            routedRates = (0..<c.bert.numLayers).map {
                Float(fromPretrained.contains("lm.encoder.layer.\($0).intermediate.dense.weight") ? config.train.lrPretrained : config.train.lrNew)
            }
        } else {
            paths = nil
            routedOptimizer = nil
            attribution = nil
            routedTensors = []
            routedRates = []
        }
        wordEmbeddings = try table.entry(named: "lm.embeddings.word_embeddings.weight")
        // the word embeddings' input-side rows are exchanged sparsely in any stage that trains them
        wordRows = stagePolicies.contains { $0[.embeddings] != .frozen }
            ? SparseRows(capacity: config.train.accumulation * B * T, width: c.bert.hiddenSize) : nil
        if let wordRows {
            wordRowIds = [Int64](repeating: 0, count: wordRows.capacity)
            gatheredWordRowIds = [Int64](repeating: 0, count: collective.size * wordRows.capacity)
            gatheredWordRows = FlatBuffer(count: collective.size * wordRows.capacity * wordRows.width)
        }
        let plans = stagePolicies.map { PolicyStage.plan(policies: $0, table: table, stageIndex: stages,
                                                           capBytes: Int(config.train.bucketMB * 1_048_576)) }
        // every rank on one node: the buckets are summed through shared memory (train.allreduce)
        var shared: NodeSharedGradients? = nil
        if config.train.allreduce == .auto, let mpi = collective as? MPICollective {
            shared = try mpi.nodeSharedGradients(count: table.count, plans: plans.map { $0.buckets.map(\.range) })
        }
        if let shared {
            model.store.useGradientStorage(shared.gradients)
            notes.append("dense gradients are summed through the node's shared memory (all \(collective.size) ranks on one node; train.allreduce: mpi sends them through MPI instead)")
        } else if collective.size > 1 && config.train.allreduce == .auto {
            notes.append("dense gradients go through MPI_Iallreduce: the ranks span several nodes, or /dev/shm has no room for \(collective.size) × \(table.count * 4 / 1_000_000) MB")
        }
        let grads = model.store.grads
        self.stages = zip(presets, plans).enumerated().map { i, stage in
            PolicyStage(preset: stage.0, policies: stagePolicies[i], frozen: stage.1.frozen,
                        reducer: GradientReducer(buckets: stage.1.buckets, grads: grads, collective: collective,
                                                 shared: shared, sharedPlan: i))
        }
        if adaptSteps > 0 {
            notes.append("MLM-adaptation stage: steps 0 to \(adaptSteps - 1) train every group (full), then \(config.train.paramPolicy.rawValue) takes over at step \(adaptSteps)\(paths != nil ? " and knowledge-path attribution first runs" : "")")
        }
        // an LM without an MLM head whose decoder the preset freezes from the start: warn
        if initFrom ?? config.model.initFrom != nil, !fromPretrained.contains("mlm.transform.dense.weight"),
           last[.embeddings] == .frozen, adaptSteps == 0 {
            warnings.append("the pretrained LM has no MLM head, and train.param_policy \(config.train.paramPolicy.rawValue) freezes the tied decoder (lm.embeddings) from step 0: its MLM head cannot adapt (set train.adapt_steps to train every group first, e.g. 500)")
        }
        order = SampleOrder(sampleCount: data.segmentCount, microBatch: B, worldSize: collective.size,
                            accumulation: config.train.accumulation, seed: UInt64(config.data.seed))
        batches = (0..<config.train.accumulation).map { _ in
            FusionBatch(batch: B, tokens: T, nodesPerSegment: data.nodesPerSegment, edgesPerSegment: data.edgesPerSegment)
        }
        schedule = LinearSchedule(warmup: config.train.warmupSteps, total: config.train.steps)
        let memoryDType = config.memory.dtype.storage
        let memoryBytes = EntityContextMemory.bytes(entityCount: data.entityCount, width: c.bert.hiddenSize, dtype: memoryDType)
        if let shared = try sharedMemory?(memoryBytes) {
            memory = EntityContextMemory(entityCount: data.entityCount, width: c.bert.hiddenSize, dtype: memoryDType,
                                         shared: shared.0, sharing: shared.1)
            notes.append("the entity memory (\(memoryDType.rawValue)) is shared by the ranks of each node: one copy of \(memoryBytes / 1_048_576) MiB per node")
        } else {
            memory = EntityContextMemory(entityCount: data.entityCount, width: c.bert.hiddenSize, dtype: memoryDType)
        }
        descriptionEncoder = DescriptionEncoder(parameters: model.parameters.lm, config: c.bert, layerCount: c.firstFusionLayer,
                                                 tokens: config.memory.descriptionTokens)
        memorySchedule = RefreshSchedule(initialInterval: config.memory.initInterval, growth: config.memory.growth,
                                         repeats: config.memory.repeats, maxInterval: config.memory.maxInterval)
        memoryCandidates = config.memory.scope == .reachable ? data.reachableEntities : Array(0..<data.entityCount)
        if fillMemory && config.memory.features == .random {
            try memory.fillRandom(seed: UInt64(config.data.seed))
            log("entity features: fixed random N(0, 1) rows from data.seed \(config.data.seed) (memory.features: random), never refreshed")
        } else if fillMemory {
            let start = Profiler.now()
            log("filling the entity memory: \(data.entityCount) descriptions through the first \(c.firstFusionLayer) LM layers, about \(data.entityCount / collective.size) per rank")
            try memory.fill(encoder: descriptionEncoder, source: data, params: model.store.values.pointer, collective: collective,
                            between: startUpCheck.map { check in { try check("filling the entity memory") } })
            log(String(format: "entity memory filled in %.1f s", Double(Profiler.now() - start) * 1e-9))
        }
    }

    /// The pretrained LM's `vocab.txt` (when its folder has one) must be the vocabulary the data
    /// was prepared with: same tokens in the same order, not only the same count.
    static func requireSameVocabulary(folder: URL, data: TrainingData) throws {
        guard let mine = data.vocabularyDigest else { return }
        let path = folder.appendingPathComponent("vocab.txt").path
        guard FileManager.default.fileExists(atPath: path) else { return }
        let tokens = try WordPieceVocabulary(contentsOfFile: path).tokens
        let theirs = VocabularyDigest.of(tokens)
        guard theirs == mine else {
            throw DataSourceError.vocabularyDigestMismatch(vocabulary: path, digest: theirs, dataset: mine)
        }
    }

    /// Tells the reducer when backward completes a stage.
    final class ReductionProgress: BackwardProgress {
        let reducer: GradientReducer
        let index: [BackwardStage: Int]
        var error: Error?
        init(_ reducer: GradientReducer, _ index: [BackwardStage: Int]) { self.reducer = reducer; self.index = index }
        func completed(_ stage: BackwardStage) {
            guard error == nil, let i = index[stage] else { return }
            do { try reducer.stageCompleted(i) } catch { self.error = error }
        }
        func poll() {
            guard error == nil else { return }
            do { try reducer.poll() } catch { self.error = error }
        }
    }

    /// Runs global step `step` and advances.
    public func trainStep() throws -> StepMetrics {
        let g = step, A = config.train.accumulation, rank = collective.rank
        let stepStart = Profiler.now()
        activeStage = stageIndex(at: g)
        let stage = stages[activeStage], reducer = stage.reducer
        attachRoutes(stage.routesFFN)
        try reducer.requireBuffers()
        Self.debugStall(rank: rank, step: g)
        var refresh: (ms: Double, entities: Int)? = nil
        if config.memory.features == .memory && memorySchedule.isDue(step: g) {
            let t = Profiler.now()
            let covered = try guarded("entity-memory refresh") { try refreshMemory() }
            refresh = (Double(Profiler.now() - t) * 1e-6, covered)
        }
        for a in 0..<A { try data.fill(batches[a], step: g, microStep: a, rank: rank, order: order) }
        attributionMs = nil
        let routed = stage.routesFFN ? paths : nil
        if routed != nil && (g - adaptSteps) % max(1, config.routing.interval) == 0 {
            try guarded("knowledge-path attribution") { try selectPaths() }
        }
        routed?.packed.zero()
        // the loss counts of DESIGN §3, and the real tokens of the global batch (for the metrics)
        var counts: [Int64] = [0, 0, 0]
        for b in batches {
            counts[0] += Int64(b.maskedCount)
            counts[1] += Int64(b.positiveCount)
            counts[2] += Int64(b.text.realTokenCount)
        }
        try guarded("all-reduce of the loss counts") { try collective.allReduceSum(&counts) }
        let realTokens = Double(counts[2])
        let norm = LossNormalization(mlmCount: Int(counts[0]), lpCount: Int(counts[1]),
                                     mlmWeight: Float(config.train.mlmWeight), lpWeight: Float(config.train.lpWeight))
        model.store.zeroGrads()
        var sinks = stage.policies.sinks(model.store.grads.pointer)
        let rows = stage.trainsEmbeddings ? wordRows : nil
        rows?.removeAll()
        sinks.wordEmbeddingRows = rows
        let mode = ForwardMode(dropout: true, seed: UInt64(config.data.seed), epoch: UInt32(g / max(1, order.stepsPerEpoch)))
        var sums: [Double] = [0, 0, 0]
        var forwardNs: UInt64 = 0, backwardNs: UInt64 = 0
        let progress = ReductionProgress(reducer, stageIndex)
        for (a, b) in batches.enumerated() {
            let t0 = Profiler.now()
            let out = model.forward(text: b.text, graph: b.graph, links: b.links, memory: memory.rows, mode: mode)
            let t1 = Profiler.now()
            if a == A - 1 { reducer.beginStep() }
            model.backward(text: b.text, graph: b.graph, links: b.links, normalization: norm, sinks: sinks,
                           progress: a == A - 1 ? progress : nil)
            if let e = progress.error { throw e }
            if a == A - 1 { backwardEndNanoseconds = reducer.elapsedNanoseconds }
            forwardNs += t1 - t0
            backwardNs += Profiler.now() - t1
            sums[0] += out.mlmLossSum
            sums[1] += out.lpLossSum
            sums[2] += Double(out.mlmCorrect)
        }
        var exposedNs = try guarded("gradient all-reduce") { try reducer.finish() }
        if let routed {
            let t = Profiler.now()
            try guarded("knowledge-path all-reduce") { try collective.allReduceSum(routed.packed.buffer) }
            exposedNs += Profiler.now() - t
        }
        sparseBytes = 0
        if let rows {
            let t = Profiler.now()
            try guarded("word-embedding row exchange") { try exchangeWordRows(rows) }
            exposedNs += Profiler.now() - t
        }
        try guarded("all-reduce of the losses") { try collective.allReduceSum(&sums) }
        let loss = norm.total(mlmSum: sums[0], lpSum: sums[1])
        let optStart = Profiler.now()
        var skipped = false
        var gradNorm = 0.0
        let factor = schedule.factor(step: g)
        if !loss.isFinite {
            guard config.train.nonfinite == .skip else { throw TrainingError.nonFiniteLoss(step: g, loss: loss) }
            skipped = true
        } else {
            gradNorm = globalGradientNorm(stage)
            if !gradNorm.isFinite {
                guard config.train.nonfinite == .skip else { throw TrainingError.nonFiniteLoss(step: g, loss: gradNorm) }
                skipped = true
            }
        }
        if !skipped {
            // clipping scales the gradients as AdamW reads them (no pass of its own over the buffer)
            var scale: Float = 1
            if config.train.clip > 0 && gradNorm > config.train.clip {
                scale = Float(config.train.clip / (gradNorm + 1e-6))
                if let routed { for i in 0..<routed.packed.count { routed.packed.pointer[i] *= scale } }
            }
            optimizer.update(params: model.store.values, grads: model.store.grads,
                             learningRates: peakRates.map { $0 * Float(factor) }, frozen: stage.frozen, gradientScale: scale)
            if let routed, let routedOptimizer {
                let h = optimizer.hyper
                routedOptimizer.update(paths: routed, tensors: routedTensors, params: model.store.values.pointer,
                                       expAvg: optimizer.expAvg.pointer, expAvgSq: optimizer.expAvgSq.pointer,
                                       learningRates: routedRates.map { $0 * Float(factor) }, beta1: h.beta1, beta2: h.beta2,
                                       eps: h.eps, weightDecay: h.weightDecay)
            } else if let routedOptimizer {
                // the adaptation stage updates every FFN neuron: its per-neuron step counts follow
                routedOptimizer.countUpdateOfEveryNeuron()
            }
        }
        let optNs = Profiler.now() - optStart
        step += 1
        if config.train.consistencyEvery > 0 && step % config.train.consistencyEvery == 0 {
            try guarded("replica consistency check") { try checkConsistency() }
        }
        let seconds = Double(Profiler.now() - stepStart) * 1e-9
        let tokensPerStep = Double(order.globalBatch * config.model.maxTokens)
        let paddingFraction = tokensPerStep > 0 ? max(0, 1 - realTokens / tokensPerStep) : 0
        return StepMetrics(step: g, loss: loss, mlm_loss: norm.mlmLoss(sums[0]), lp_loss: norm.lpLoss(sums[1]),
                           mlm_accuracy: norm.mlmCount > 0 ? sums[2] / Double(norm.mlmCount) : 0,
                           lr: config.train.lrNew * factor, grad_norm: gradNorm,
                           tokens_per_s: tokensPerStep / seconds, real_tokens_per_s: realTokens / seconds,
                           padding_fraction: paddingFraction,
                           time_forward_ms: Double(forwardNs) * 1e-6, time_backward_ms: Double(backwardNs) * 1e-6,
                           time_comm_exposed_ms: Double(exposedNs) * 1e-6, time_optimizer_ms: Double(optNs) * 1e-6,
                           bytes_allreduced: reducer.denseBytes + sparseBytes + (routed?.packed.count ?? 0) * 4,
                           bytes_dense_equivalent: model.store.table.count * 4,
                           skipped: skipped, param_policy: stage.preset.rawValue, attribution_ms: attributionMs, memory_refresh_ms: refresh?.ms,
                           memory_refreshed_entities: refresh?.entities,
                           memory_entities_per_s: refresh.map { $0.ms > 0 ? Double($0.entities) / ($0.ms * 1e-3) : 0 })
    }

    /// Everything a checkpoint holds at this step boundary.
    public func checkpointContents() throws -> Checkpoint.Contents {
        var c = Checkpoint.Contents(
            step: step, epoch: step / max(1, order.stepsPerEpoch), samplesSeen: step * order.globalBatch,
            worldSize: collective.size, configJSON: try config.canonicalJSON(), table: model.store.table,
            params: model.store.values, expAvg: optimizer.expAvg, expAvgSq: optimizer.expAvgSq,
            optimizerStep: optimizer.step, lrPretrained: config.train.lrPretrained, lrNew: config.train.lrNew,
            memory: (memory.storage, memory.entityCount, memory.width))
        c.vocabularyDigest = data.vocabularyDigest
        c.memoryState = Checkpoint.MemoryState(refreshCount: memorySchedule.refreshCount,
                                               nextRefreshStep: memorySchedule.nextRefreshStep,
                                               nextBlock: memorySchedule.nextBlock, momentum: config.memory.momentum)
        if let paths, let routedOptimizer {
            let ff = paths.ffnSize
            c.routing = Checkpoint.RoutingState(
                paths: (0..<paths.layers).map { Array(paths.selection($0)) }, scores: paths.scores,
                neuronSteps: (0..<paths.layers).map { l in Array(UnsafeBufferPointer(start: routedOptimizer.neuronSteps.pointer + l * ff, count: ff)) },
                lastRefreshStep: paths.lastRefreshStep)
        }
        return c
    }

    /// Continues from a checkpoint (DESIGN §7): parameters, Adam moments and step, the entity
    /// memory and its schedule, and the step counter. The data order and every random draw
    /// follow from the step, so nothing else is needed for an exact continuation.
    public func restore(from path: String) throws {
        let (f, header) = try Checkpoint.open(path)
        if let stored = header.vocabularyDigest, let mine = data.vocabularyDigest, stored != mine {
            try? f.close()  // already failing
            throw CheckpointError(file: path, item: "vocabulary_digest",
                                  "is \(stored), but data.path's vocabulary has the digest \(mine) (another vocabulary, maybe of the same size): every token id would change meaning; resume on the dataset the run trained on")
        }
        let table = model.store.table
        try Checkpoint.read("params", from: f, into: model.store.values, table: table)
        try Checkpoint.read("optimizer/exp_avg", from: f, into: optimizer.expAvg, table: table)
        try Checkpoint.read("optimizer/exp_avg_sq", from: f, into: optimizer.expAvgSq, table: table)
        optimizer.setStep(header.optimizerStep)
        try memory.write { try Checkpoint.readMemory(from: f, into: $0, entities: memory.entityCount, width: memory.width) }
        if let paths, let routedOptimizer {
            guard let r = try Checkpoint.readRouting(from: f, layers: paths.layers) else {
                throw CheckpointError(file: path, item: "/routing", "missing, but this run routes lm.ffn")
            }
            guard r.paths.allSatisfy({ $0.count == paths.perLayer }), r.neuronSteps.allSatisfy({ $0.count == paths.ffnSize }) else {
                throw CheckpointError(file: path, item: "/routing/paths", "holds \(r.paths.first?.count ?? 0) neurons per layer, this run selects \(paths.perLayer) (routing.fraction)")
            }
            paths.setSelection(r.paths, scores: r.scores, step: r.lastRefreshStep)
            for l in 0..<paths.layers {
                (routedOptimizer.neuronSteps.pointer + l * paths.ffnSize).update(from: r.neuronSteps[l], count: paths.ffnSize)
            }
        }
        activeStage = stageIndex(at: header.step)
        if let m = header.memoryState {
            memorySchedule.refreshCount = m.refreshCount
            memorySchedule.nextRefreshStep = m.nextRefreshStep
            memorySchedule.nextBlock = m.nextBlock
        }
        try f.close()
        let (samples, overflow) = header.step.multipliedReportingOverflow(by: order.globalBatch)
        guard !overflow, samples == header.samplesSeen else {
            throw CheckpointError(file: path, item: "attribute samples_seen",
                                  "is \(header.samplesSeen), but \(header.step) steps of this run's global batch \(order.globalBatch) make \(samples): keep the global batch when resuming")
        }
        step = header.step
    }

    /// TRELM attribution on the first `routing.samples` samples of this step's global batch
    /// (DESIGN §5): each rank scores its share in float64 per sample; the per-sample scores are
    /// all-gathered and summed in global sample order, so the selection does not depend on the
    /// number of ranks; the ranks then check they selected the same neurons.
    func selectPaths() throws {
        guard let paths, let attribution else { return }
        let start = Profiler.now()
        let batch = batches[0], text = batch.text, T = text.tokens
        let B = order.microBatch, S = config.routing.samples
        let mine = max(0, min(B, S - collective.rank * B))
        // the target: masked positions inside mentions among the attribution samples (all masked positions if none)
        let saved = Array(UnsafeBufferPointer(start: text.labels.pointer, count: text.rows))
        var counts: [Int64] = [0, 0]
        for r in 0..<text.rows where r < mine * T && saved[r] >= 0 {
            counts[1] += 1
            if batch.mentionMask.pointer[r] != 0 { counts[0] += 1 }
        }
        try collective.allReduceSum(&counts)
        let mentionsOnly = counts[0] > 0
        for r in 0..<text.rows {
            let keep = r < mine * T && saved[r] >= 0 && (!mentionsOnly || batch.mentionMask.pointer[r] != 0)
            text.labels.pointer[r] = keep ? saved[r] : -100
        }
        let scores = attribution.attribute(text: text, graph: batch.graph, links: batch.links, memory: memory.rows,
                                           samples: mine, globalCount: Int(mentionsOnly ? counts[0] : counts[1]),
                                           steps: config.routing.igSteps, mode: config.routing.igMode == .joint ? .joint : .perLayer)
        for r in 0..<text.rows { text.labels.pointer[r] = saved[r] }
        let all = try scores.withUnsafeBufferPointer { try collective.allGatherV($0) }
        let L = paths.layers, ff = paths.ffnSize
        var perLayer = [[Double]](repeating: [Double](repeating: 0, count: ff), count: L)
        for b in 0..<(all.count / (L * ff)) {
            for l in 0..<L { for j in 0..<ff { perLayer[l][j] += all[(b * L + l) * ff + j] } }
        }
        paths.select(scores: perLayer, step: step)
        var digest: [Int64] = [paths.checksum]
        let digests = try digest.withUnsafeBufferPointer { try collective.allGatherV($0) }
        digest.removeAll()
        if let r = digests.firstIndex(where: { $0 != digests[0] }) {
            throw TrainingError.replicaMismatch(rank: r, what: "knowledge-path selection at step \(step)")
        }
        attributionMs = Double(Profiler.now() - start) * 1e-6
    }

    /// A scheduled refresh of the entity memory (full, or the next rolling block). Returns the
    /// number of entities it covered.
    @discardableResult
    public func refreshMemory() throws -> Int {
        let coverage: EntityContextMemory.Coverage = config.memory.refresh == .full
            ? .full : .rolling(block: config.memory.blockEntities)
        let (entities, next) = EntityContextMemory.covered(coverage, candidates: memoryCandidates, next: memorySchedule.nextBlock)
        try memory.refresh(entities: entities, momentum: Float(config.memory.momentum), encoder: descriptionEncoder,
                           source: data, params: model.store.values.pointer, collective: collective)
        memorySchedule.nextBlock = next
        memorySchedule.recordRefresh(at: step)
        return entities.count
    }

    /// Adds every rank's word-embedding gradient rows (in rank order, the same on every rank)
    /// into the word embeddings' reduced gradient.
    func exchangeWordRows(_ rows: SparseRows) throws {
        let d = rows.width
        for i in 0..<rows.count { wordRowIds[i] = Int64(rows.ids.pointer[i]) }
        let rowCount = try wordRowIds.withUnsafeBufferPointer { ids in
            try gatheredWordRowIds.withUnsafeMutableBufferPointer { all in
                try collective.allGatherV(UnsafeBufferPointer(rebasing: ids[0..<rows.count]), into: all)
            }
        }
        _ = try collective.allGatherV(UnsafeBufferPointer(start: rows.values.pointer, count: rows.count * d),
                                      into: UnsafeMutableBufferPointer(start: gatheredWordRows.pointer, count: gatheredWordRows.count))
        let table = wordEmbeddings.ref.pointer(in: model.store.grads.pointer)
        for i in 0..<rowCount {
            ElementWise.accumulate(table + Int(gatheredWordRowIds[i]) * d, gatheredWordRows.pointer + i * d, count: d)
        }
        sparseBytes = rowCount * (8 + 4 * d)
    }

    /// ‖g‖ over every parameter `stage` trains (identical on all ranks after the reduction).
    func globalGradientNorm(_ stage: PolicyStage) -> Double {
        var total = 0.0
        for (i, e) in model.store.table.entries.enumerated() where !stage.frozen[i] {
            total += Double(VectorMath.sumOfSquares(e.ref.pointer(in: model.store.grads.pointer), count: e.count))
        }
        if stage.routesFFN, let paths { total += Double(VectorMath.sumOfSquares(paths.packed.pointer, count: paths.packed.count)) }
        return total.squareRoot()
    }

    /// The stage of global step `step`: the adaptation stage before `adaptSteps`, then the last.
    public func stageIndex(at step: Int) -> Int { step < adaptSteps ? 0 : stages.count - 1 }

    /// Points the FFN layers' backward at the knowledge paths, or back at full weight gradients.
    func attachRoutes(_ routed: Bool) {
        guard routed != routesAttached else { return }
        if routed, let paths {
            paths.attach(to: model.layers)
        } else {
            for layer in model.layers { layer.route = nil }
        }
        routesAttached = routed && paths != nil
    }

    /// A 64-bit digest of each parameter tensor's bits.
    public func parameterDigests() -> [Int64] {
        model.store.table.entries.map { e in
            var h: UInt64 = 0xcbf2_9ce4_8422_2325
            let p = e.ref.pointer(in: model.store.values.pointer)
            for j in 0..<e.count { h = (h ^ UInt64(p[j].bitPattern)) &* 0x0000_0100_0000_01B3 }
            return Int64(bitPattern: h)
        }
    }

    /// Compares every rank's parameter digests with rank 0's; throws naming the first
    /// parameter (in table order) that differs.
    public func checkConsistency() throws {
        let mine = parameterDigests()
        let all = try mine.withUnsafeBufferPointer { try collective.allGatherV($0) }
        let n = mine.count
        for r in 1..<max(1, collective.size) {
            for i in 0..<n where all[r * n + i] != all[i] {
                throw TrainingError.inconsistentParameters(step: step, parameter: model.store.table.entries[i].name, rank: r)
            }
        }
    }
}
