import Foundation
import KELMBatches
import KELMConfig
import KELMData
import KELMDistributed
import KELMMemory
import KELMModel
import KELMNumerics

/// What the trainer sets up before its first step, besides the model: the entity memory and
/// its schedule (DESIGN §4), the start-up notes, the checks on a pretrained LM's vocabulary.
extension Trainer {
    /// The entity memory (shared by the node's ranks when `nodeSharing` gives a window), its
    /// description encoder, schedule and candidates; filled at step 0 unless `fill` is false.
    static func entityMemory(config: KELMConfig, fusion c: FusionConfig, data: TrainingData, model: FusionModel,
                             collective: Collective, nodeSharing: NodeSharing?, fill: Bool, log: (String) -> Void,
                             notes: inout [String], startUpCheck: ((String) throws -> Void)?) throws
        -> (EntityContextMemory, DescriptionEncoder, RefreshSchedule, [Int]) {
        let memoryDType = config.memory.dtype.storage
        let memoryBytes = EntityContextMemory.bytes(entityCount: data.entityCount, width: c.bert.hiddenSize, dtype: memoryDType)
        let memory: EntityContextMemory
        if let shared = try nodeSharing?.sharedMemory(bytes: memoryBytes) {
            memory = EntityContextMemory(entityCount: data.entityCount, width: c.bert.hiddenSize, dtype: memoryDType,
                                         shared: shared.storage, sharing: shared)
            notes.append("the entity memory (\(memoryDType.rawValue)) is shared by the ranks of each node: one copy of \(memoryBytes / 1_048_576) MiB per node")
        } else {
            memory = EntityContextMemory(entityCount: data.entityCount, width: c.bert.hiddenSize, dtype: memoryDType)
        }
        let encoder = DescriptionEncoder(parameters: model.parameters.lm, config: c.bert, layerCount: c.firstFusionLayer,
                                         tokens: config.memory.descriptionTokens)
        let schedule = RefreshSchedule(initialInterval: config.memory.initInterval, growth: config.memory.growth,
                                       repeats: config.memory.repeats, maxInterval: config.memory.maxInterval)
        let candidates = config.memory.scope == .reachable ? data.reachableEntities : Array(0..<data.entityCount)
        if fill && config.memory.features == .random {
            try memory.fillRandom(seed: UInt64(config.data.seed))
            log("entity features: fixed random N(0, 1) rows from data.seed \(config.data.seed) (memory.features: random), never refreshed")
        } else if fill {
            let start = Profiler.now()
            log("filling the entity memory: \(data.entityCount) descriptions through the first \(c.firstFusionLayer) LM layers, about \(data.entityCount / collective.size) per rank")
            try memory.fill(encoder: encoder, source: data, params: model.store.values.pointer, collective: collective,
                            between: startUpCheck.map { check in { try check("filling the entity memory") } })
            log(String(format: "entity memory filled in %.1f s", Double(Profiler.now() - start) * 1e-9))
        }
        return (memory, encoder, schedule, candidates)
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

    /// What the start-up log says of the gradient exchange and the stages.
    static func startUpNotes(config: KELMConfig, collective: Collective, exchange: GradientExchange, adaptSteps: Int, routes: Bool) -> [String] {
        var notes: [String] = []
        if let shared = exchange.shared, shared.isHierarchical {
            notes.append("dense gradients are summed hierarchically: through each node's shared memory (\(shared.localSize) ranks per node), then across the \(shared.cross?.size ?? 1) nodes by an MPI ring among the ranks of the same local index")
        } else if exchange.shared != nil {
            notes.append("dense gradients are summed through the node's shared memory (all \(collective.size) ranks on one node; train.allreduce: mpi sends them through MPI instead)")
        } else if collective.size > 1 {
            let how = "an MPI ring over persistent point-to-point requests"
            let why = config.train.allreduce == .auto
                ? ": the ranks span several nodes, or /dev/shm has no room for \(collective.size) × \(exchange.gradientCount * 4 / 1_000_000) MB" : ""
            notes.append("dense gradients go through \(how)\(why)")
        }
        if adaptSteps > 0 {
            notes.append("MLM-adaptation stage: steps 0 to \(adaptSteps - 1) train every group (full), then \(config.train.paramPolicy.rawValue) takes over at step \(adaptSteps)\(routes ? " and knowledge-path attribution first runs" : "")")
        }
        return notes
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
}
