import Foundation
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMData
import KELMDistributed
import KELMMemory
import KELMModel
import KELMNumerics
import KELMRouting

/// The data-parallel trainer (DESIGN §3, §5, §6): every rank holds a replica of the fusion
/// model. A step, top to bottom (`trainStep`): refresh the entity memory when due; load this
/// rank's micro-batches in the global order; attribute the knowledge paths when due; all-reduce
/// the loss counts once; forward and backward each micro-batch (accumulating), the gradient
/// exchange starting buckets as backward completes them; finish the exchange; clip to the
/// global norm; AdamW (and the routed AdamW on the paths); check the replicas now and then.
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
    /// Every reduction of a step's gradients over the ranks.
    public let exchange: GradientExchange
    /// TRELM routing of the LM's FFNs (nil unless the last stage routes `lm.ffn`).
    public let selector: PathSelector?
    /// The word embeddings' input-side gradient rows (nil when no stage trains them).
    let wordRows: SparseRows?
    let batches: [FusionBatch]
    let peakRates: [Float]
    let routedRates: [Float]
    let schedule: LinearSchedule
    let stageIndex: [BackwardStage: Int]
    public private(set) var step = 0
    /// The entity memory's refresh schedule (DESIGN §4).
    public internal(set) var memorySchedule: RefreshSchedule
    public let descriptionEncoder: DescriptionEncoder
    let memoryCandidates: [Int]
    /// When the last backward of the latest step ended, in the reducer's timing frame.
    public private(set) var backwardEndNanoseconds: UInt64 = 0
    /// Aborts the job when a collective waits too long (set by the training run).
    public var watchdog: CollectiveWatchdog?
    /// Notes for the start-up log (e.g. what was adjusted), and warnings.
    public private(set) var notes: [String] = []
    public private(set) var warnings: [String] = []

    /// The active stage's dense reducer, group policies and paths.
    public var reducer: GradientReducer { exchange.reducers[activeStage] }
    public var policies: GroupPolicies { stages[activeStage].policies }
    public var paths: KnowledgePaths? { selector?.paths }
    public var routedOptimizer: RoutedAdamW? { selector?.optimizer }

    /// Builds the replica: parameters initialised (seeded, or from the Hugging Face folder
    /// `initFrom`) on rank 0 and broadcast; checks that every rank has the same parameter
    /// table and configuration; fills the entity memory (step 0, DESIGN §4).
    /// `fillMemory` false leaves M at zero (benchmarks that time only the step); `log` hears
    /// start-up progress; `startUpCheck`, when given, is called on every rank at the same points
    /// of start-up with the phase's name (`TrainingRun` agrees there on a stop signal).
    /// `nodeSharing`, when given, lets the ranks of a node share one copy of M (DESIGN §4) and,
    /// when every rank is on one node and `train.allreduce` is `auto`, sum the dense gradients
    /// through shared memory.
    public init(config: KELMConfig, data: TrainingData, collective: Collective, initFrom: String? = nil,
                fillMemory: Bool = true, log: (String) -> Void = { _ in }, nodeSharing: NodeSharing? = nil,
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
        let model = try FusionModel(config: c, maxBatch: B, maxTokens: T, maxNodes: B * data.nodesPerSegment,
                                    maxEdges: B * data.edgesPerSegment, maxPositives: B * 100)
        self.model = model
        let table = model.store.table
        try model.initializeParameters(seed: UInt64(config.data.seed))
        let fromPretrained = try pretrained.map { Set(try HuggingFaceBert.loadWeights(from: $0.weights, into: model.store).loaded) } ?? []
        // rank 0's parameters everywhere, then the same table and configuration everywhere
        try collective.broadcast(model.store.values.buffer, root: 0)
        try ReplicaConsistency.requireSame([Int64(bitPattern: table.layoutDigest), Int64(bitPattern: try config.fingerprint())],
                                           what: ["parameter table", "configuration"], collective: collective)
        try startUpCheck?("setting up the model")

        // the policy stages: `full` for the first train.adapt_steps steps, then the preset
        var presets = [config.train.paramPolicy]
        if config.train.adaptSteps > 0 && config.train.paramPolicy != .full { presets.insert(.full, at: 0) }
        adaptSteps = presets.count > 1 ? config.train.adaptSteps : 0
        let stageIndex = Dictionary(uniqueKeysWithValues: model.backwardStages.enumerated().map { ($1, $0) })
        self.stageIndex = stageIndex
        let stages = presets.map { PolicyStage(preset: $0, table: table, stageIndex: stageIndex) }
        self.stages = stages
        func rate(_ name: String) -> Float { Float(fromPretrained.contains(name) ? config.train.lrPretrained : config.train.lrNew) }
        peakRates = table.entries.map { rate($0.name) }
        optimizer = AdamW(table: table, hyper: .init(weightDecay: Float(config.train.weightDecay)))
        let last = stages[stages.count - 1]
        selector = last.routesFFN
            ? PathSelector(model: model, fraction: config.routing.fraction, maxRows: B * T, samples: config.routing.samples,
                           igSteps: config.routing.igSteps, mode: config.routing.igMode == .joint ? .joint : .perLayer,
                           collective: collective)
            : nil
        routedRates = selector == nil ? [] : (0..<c.bert.numLayers).map { rate("lm.encoder.layer.\($0).intermediate.dense.weight") }
        // the word embeddings' input-side rows are exchanged sparsely in any stage that trains them
        wordRows = stages.contains { $0.trainsEmbeddings }
            ? SparseRows(capacity: config.train.accumulation * B * T, width: c.bert.hiddenSize) : nil
        exchange = try GradientExchange(
            store: model.store, stages: stages.map(\.exchange), capBytes: Int(config.train.bucketMB * 1_048_576),
            collective: collective,
            nodeSharing: config.train.allreduce == .auto || config.train.allreduce == .hierarchical ? nodeSharing : nil,
            hierarchy: config.train.allreduce == .hierarchical ? .always : .whenSeveralRanksPerNode,
            wordEmbeddings: try wordRows.map { (try table.entry(named: "lm.embeddings.word_embeddings.weight"), $0.capacity) },
            pathGradients: selector?.paths.packed)
        notes += Self.startUpNotes(config: config, collective: collective, exchange: exchange, adaptSteps: adaptSteps, routes: selector != nil)
        // an LM without an MLM head whose decoder the preset freezes from the start: warn
        if initFrom ?? config.model.initFrom != nil, !fromPretrained.contains("mlm.transform.dense.weight"),
           last.policies[.embeddings] == .frozen, adaptSteps == 0 {
            warnings.append("the pretrained LM has no MLM head, and train.param_policy \(config.train.paramPolicy.rawValue) freezes the tied decoder (lm.embeddings) from step 0: its MLM head cannot adapt (set train.adapt_steps to train every group first, e.g. 500)")
        }
        order = SampleOrder(sampleCount: data.segmentCount, microBatch: B, worldSize: collective.size,
                            accumulation: config.train.accumulation, seed: UInt64(config.data.seed))
        batches = (0..<config.train.accumulation).map { _ in
            FusionBatch(batch: B, tokens: T, nodesPerSegment: data.nodesPerSegment, edgesPerSegment: data.edgesPerSegment)
        }
        schedule = LinearSchedule(warmup: config.train.warmupSteps, total: config.train.steps)
        (memory, descriptionEncoder, memorySchedule, memoryCandidates) = try Self.entityMemory(
            config: config, fusion: c, data: data, model: model, collective: collective, nodeSharing: nodeSharing,
            fill: fillMemory, log: log, notes: &notes, startUpCheck: startUpCheck)
    }

    /// Tells the gradient exchange when backward completes a stage.
    final class ExchangeProgress: BackwardProgress {
        let exchange: GradientExchange
        let index: [BackwardStage: Int]
        var error: Error?
        init(_ exchange: GradientExchange, _ index: [BackwardStage: Int]) { self.exchange = exchange; self.index = index }
        func completed(_ stage: BackwardStage) {
            guard error == nil, let i = index[stage] else { return }
            do { try exchange.stageCompleted(i) } catch { self.error = error }
        }
        func poll() {
            guard error == nil else { return }
            do { try exchange.poll() } catch { self.error = error }
        }
    }

    /// Runs global step `step` and advances.
    public func trainStep() throws -> StepMetrics {
        let g = step, A = config.train.accumulation, rank = collective.rank
        let stepStart = Profiler.now()
        activeStage = stageIndex(at: g)
        let stage = stages[activeStage]
        let routed = stage.routesFFN ? selector : nil
        selector?.attach(routed != nil, to: model.layers)
        try exchange.activate(stage: activeStage)
        Self.debugStall(rank: rank, step: g)
        // the entity memory (DESIGN §4), this rank's micro-batches, the knowledge paths (§5)
        var refresh: (ms: Double, entities: Int)? = nil
        if config.memory.features == .memory && memorySchedule.isDue(step: g) {
            let t = Profiler.now()
            let covered = try guarded("entity-memory refresh") { try refreshMemory() }
            refresh = (Double(Profiler.now() - t) * 1e-6, covered)
        }
        for a in 0..<A { try data.fill(batches[a], step: g, microStep: a, rank: rank, order: order) }
        var attributionMs: Double? = nil
        if let routed, (g - adaptSteps) % max(1, config.routing.interval) == 0 {
            let t = Profiler.now()
            try guarded("knowledge-path attribution") { try selectPaths(routed) }
            attributionMs = Double(Profiler.now() - t) * 1e-6
        }
        routed?.paths.packed.zero()
        // the loss counts of DESIGN §3, and the real tokens of the global batch (for the metrics)
        var counts: [Int64] = [0, 0, 0]
        for b in batches {
            counts[0] += Int64(b.maskedCount)
            counts[1] += Int64(b.positiveCount)
            counts[2] += Int64(b.text.realTokenCount)
        }
        try guarded("all-reduce of the loss counts") { try collective.allReduceSum(&counts) }
        let norm = LossNormalization(mlmCount: Int(counts[0]), lpCount: Int(counts[1]),
                                     mlmWeight: Float(config.train.mlmWeight), lpWeight: Float(config.train.lpWeight))
        // forward and backward, accumulating; the exchange starts during the last backward
        model.store.zeroGrads()
        var sinks = stage.policies.sinks(model.store.grads.pointer)
        let rows = stage.trainsEmbeddings ? wordRows : nil
        rows?.removeAll()
        sinks.wordEmbeddingRows = rows
        let mode = ForwardMode(dropout: true, seed: UInt64(config.data.seed), epoch: UInt32(g / max(1, order.stepsPerEpoch)))
        var sums: [Double] = [0, 0, 0]
        var forwardNs: UInt64 = 0, backwardNs: UInt64 = 0
        let progress = ExchangeProgress(exchange, stageIndex)
        for (a, b) in batches.enumerated() {
            let t0 = Profiler.now()
            let out = model.forward(text: b.text, graph: b.graph, links: b.links, memory: memory.rows, mode: mode)
            let t1 = Profiler.now()
            if a == A - 1 { try exchange.beginBackward() }
            model.backward(text: b.text, graph: b.graph, links: b.links, normalization: norm, sinks: sinks,
                           progress: a == A - 1 ? progress : nil)
            if let e = progress.error { throw e }
            if a == A - 1 { backwardEndNanoseconds = exchange.elapsedNanoseconds }
            forwardNs += t1 - t0
            backwardNs += Profiler.now() - t1
            sums[0] += out.mlmLossSum
            sums[1] += out.lpLossSum
            sums[2] += Double(out.mlmCorrect)
        }
        let exposedNs = try exchange.finish(routed: routed != nil, rows: rows) { name, body in try guarded(name, body) }
        try guarded("all-reduce of the losses") { try collective.allReduceSum(&sums) }
        // the optimizer: global-norm clipping, AdamW, the routed AdamW on the paths
        let loss = norm.total(mlmSum: sums[0], lpSum: sums[1])
        let optStart = Profiler.now()
        let factor = schedule.factor(step: g)
        let gradNorm = loss.isFinite ? exchange.globalNorm(frozen: stage.frozen, routed: routed != nil) : 0
        let skipped = !loss.isFinite || !gradNorm.isFinite
        if skipped && config.train.nonfinite != .skip {
            throw TrainingError.nonFiniteLoss(step: g, loss: loss.isFinite ? gradNorm : loss)
        }
        if !skipped {
            // clipping scales the gradients as AdamW reads them (no pass of its own over the buffer)
            let scale = exchange.clipScale(norm: gradNorm, clip: config.train.clip, routed: routed != nil)
            optimizer.update(params: model.store.values, grads: model.store.grads,
                             learningRates: peakRates.map { $0 * Float(factor) }, frozen: stage.frozen, gradientScale: scale)
            if let routed {
                routed.update(params: model.store.values, moments: (optimizer.expAvg, optimizer.expAvgSq),
                              learningRates: routedRates.map { $0 * Float(factor) }, hyper: optimizer.hyper)
            } else {
                // the adaptation stage updates every FFN neuron: its per-neuron step counts follow
                selector?.optimizer.countUpdateOfEveryNeuron()
            }
        }
        let optNs = Profiler.now() - optStart
        step += 1
        if config.train.consistencyEvery > 0 && step % config.train.consistencyEvery == 0 {
            try guarded("replica consistency check") { try checkConsistency() }
        }
        return StepMetrics(step: g, loss: loss, norm: norm, sums: sums, realTokens: Double(counts[2]),
                           tokensPerStep: Double(order.globalBatch * config.model.maxTokens),
                           seconds: Double(Profiler.now() - stepStart) * 1e-9, lr: config.train.lrNew * factor,
                           gradNorm: gradNorm, forwardNs: forwardNs, backwardNs: backwardNs, exposedNs: exposedNs,
                           optimizerNs: optNs, bytes: exchange.bytesExchanged(routed: routed != nil),
                           denseEquivalentBytes: model.store.table.count * 4, skipped: skipped,
                           policy: stage.preset.rawValue, attributionMs: attributionMs, refresh: refresh)
    }

    /// TRELM attribution on this step's first micro-batch and the selection (DESIGN §5); then
    /// every rank checks that it selected the same neurons.
    func selectPaths(_ selector: PathSelector) throws {
        let batch = batches[0]
        let checksum = try selector.select(text: batch.text, graph: batch.graph, links: batch.links,
                                           mentionMask: batch.mentionMask.pointer, memory: memory.rows,
                                           microBatch: order.microBatch, step: step)
        try ReplicaConsistency.requireSame([checksum], what: ["knowledge-path selection at step \(step)"], collective: collective)
    }

    /// Compares every rank's parameters with rank 0's (by digests); throws naming the first
    /// parameter that differs.
    public func checkConsistency() throws {
        try ReplicaConsistency.requireSameParameters(model.store, step: step, collective: collective)
    }

    /// The stage of global step `step`: the adaptation stage before `adaptSteps`, then the last.
    public func stageIndex(at step: Int) -> Int { step < adaptSteps ? 0 : stages.count - 1 }

    /// Sets the step counter (checkpoint restore).
    func restoreStep(_ s: Int) {
        step = s
        activeStage = stageIndex(at: s)
    }

    /// Runs a collective under the watchdog, if any.
    func guarded<T>(_ name: String, _ body: () throws -> T) throws -> T {
        guard let watchdog else { return try body() }
        return try watchdog.guarding(name, step: step, body)
    }
}
