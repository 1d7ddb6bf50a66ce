import KELMModel
import KELMNumerics

/// The JAKET entity-context memory M ∈ R^{|E| × d} (DESIGN §4): the GNN's input features,
/// recomputed from entity descriptions by LM1; no gradient flows into it. Stored as float32 or
/// float16 (`memory.dtype`): encodings and momentum updates are computed in float32 and rounded
/// to nearest when stored as float16; readers see rows widened to float32 (`rows`).
public final class EntityContextMemory {
    public let entityCount: Int
    public let width: Int
    /// [|E|, d] in `dtype`.
    public let storage: EntityMemoryStorage
    /// When M lives in memory shared by the ranks of a node: who writes it, and how to wait for the writer.
    public let sharing: MemorySharing?

    /// A memory of its own (`shared` nil), or a view of node-shared storage of
    /// `entityCount · width` values of `dtype` (`bytes(entityCount:width:dtype:)` bytes) that
    /// only `sharing.isWriter` writes.
    public init(entityCount: Int, width: Int, dtype: EntityMemoryDType = .float32,
                shared: UnsafeMutableRawPointer? = nil, sharing: MemorySharing? = nil) {
        self.entityCount = entityCount
        self.width = width
        if let shared {
            storage = EntityMemoryStorage(dtype: dtype, external: shared, count: entityCount * width)
        } else {
            storage = EntityMemoryStorage(dtype: dtype, count: entityCount * width)
        }
        self.sharing = shared == nil ? nil : sharing
    }

    /// The bytes M takes: |E| · d · (4 or 2).
    public static func bytes(entityCount: Int, width: Int, dtype: EntityMemoryDType) -> Int {
        entityCount * width * dtype.byteWidth
    }

    public var dtype: EntityMemoryDType { storage.dtype }

    /// M's rows as the model reads them (widened to float32).
    public var rows: EntityRows { storage.rows(width: width) }

    var writes: Bool { sharing?.isWriter ?? true }

    /// Runs `body` on M where this rank writes it (every rank, or the node's writer when M is
    /// shared), then waits until the writes are visible to every rank.
    public func write(_ body: (EntityMemoryStorage) throws -> Void) throws {
        if writes { try body(storage) }
        try sharing?.synchronize()
    }

    /// Which entities a refresh covers (DESIGN §4, `memory.refresh`).
    public enum Coverage: Equatable, Sendable {
        /// Every entity (JAKET).
        case full
        /// The next block of this many entity ids, cycling.
        case rolling(block: Int)
    }

    /// The entity ids the next refresh covers, from `candidates` (all entities, or those that
    /// can appear in a training subgraph), starting at position `next` for a rolling refresh.
    /// Returns them and the next position.
    public static func covered(_ coverage: Coverage, candidates: [Int], next: Int) -> (entities: [Int], next: Int) {
        switch coverage {
        case .full: return (candidates, 0)
        case .rolling(let block):
            guard !candidates.isEmpty else { return ([], 0) }
            let n = min(block, candidates.count)
            let start = next % candidates.count
            let ids = (0..<n).map { candidates[(start + $0) % candidates.count] }
            return (ids, (start + n) % candidates.count)
        }
    }

    /// M_new of `entities` (DESIGN §4), on every rank: the descriptions are planned in batches of
    /// similar length the same way on every rank (`DescriptionBatches`); each rank encodes its
    /// block of batches; the blocks are all-gathered (`MPI_Allgatherv`) in plan order. Calls
    /// `body` with each entity and its row.
    ///
    /// `between`, when given, is called on every rank the same number of times while the ranks
    /// encode, every `batchesBetweenCalls` batches of the rank with the most (a collective
    /// agreement there can stop a long fill within a few seconds).
    func encodeEverywhere(_ entities: [Int], encoder: DescriptionEncoder, source: DescriptionSource,
                          params: UnsafeMutablePointer<Float>, collective: Collective,
                          between: (() throws -> Void)? = nil, batchesBetweenCalls: Int = 2,
                          _ body: (_ entity: Int, _ row: UnsafePointer<Float>) -> Void) throws {
        let plan = try encoder.plan(entities: entities, source: source)
        let mine = plan.block(rank: collective.rank, size: collective.size)
        let local = FlatBuffer(count: plan.entries(mine).count * width)
        if let between {
            let k = max(1, batchesBetweenCalls)
            let most = (0..<collective.size).map { plan.block(rank: $0, size: collective.size).count }.max() ?? 0
            let first = plan.entries(mine).lowerBound
            for round in 0..<((most + k - 1) / k) {
                let lower = min(mine.upperBound, mine.lowerBound + round * k)
                let part = lower..<min(mine.upperBound, lower + k)
                if !part.isEmpty {
                    try encoder.encode(plan, block: part, entities: entities, source: source, params: params,
                                       output: local.pointer + (plan.entries(part).lowerBound - first) * width)
                }
                try between()
            }
        } else {
            try encoder.encode(plan, block: mine, entities: entities, source: source, params: params, output: local.pointer)
        }
        let all = try collective.allGatherV(UnsafeBufferPointer(start: local.pointer, count: local.count))
        precondition(all.count == entities.count * width, "the gathered blocks must cover the encoded entities")
        all.withUnsafeBufferPointer { rows in
            for (i, position) in plan.order.enumerated() { body(entities[Int(position)], rows.baseAddress! + i * width) }
        }
    }

    /// A refresh: M ← m·M + (1−m)·M_new for `entities`, in float32 (rounded to nearest on store
    /// when float16). Every rank encodes its block of the planned batches; the blocks are
    /// all-gathered and every rank applies the same update.
    public func refresh(entities: [Int], momentum: Float, encoder: DescriptionEncoder, source: DescriptionSource,
                        params: UnsafeMutablePointer<Float>, collective: Collective) throws {
        let keep = momentum, take = 1 - momentum, writes = self.writes
        try encodeEverywhere(entities, encoder: encoder, source: source, params: params, collective: collective) { e, fresh in
            if writes { storage.blend(row: e * width, width: width, keep: keep, take: take, fresh: fresh) }
        }
        try sharing?.synchronize()
    }

    /// `memory.features: random`, the ablation of the memory: row e = N(0, 1) per element from the
    /// counter-based stream keyed by (`seed`, purpose `entityFeatures`, item e), so M is the same
    /// on any number of ranks and for any shared-memory layout (rounded to nearest when float16).
    /// No collective: every writer draws the whole matrix (a few hundred MB of Box–Muller at
    /// most, seconds).
    public func fillRandom(seed: UInt64) throws {
        if writes {
            let w = width
            let row = FlatBuffer(count: w)
            for e in 0..<entityCount {
                var stream = RandomStream(RandomKey(seed: seed, purpose: .entityFeatures, item: UInt64(e)))
                for c in 0..<w { row.pointer[c] = stream.nextNormal() }
                storage.store(row.pointer, at: e * w, count: w)
            }
        }
        try sharing?.synchronize()
    }

    /// Step 0: M = M_new for every entity (rounded to nearest when float16), encoded and
    /// gathered as in `refresh`, so every rank holds the same M whatever the number of ranks.
    /// `between` (collective, optional) is called every few batches on every rank alike.
    public func fill(encoder: DescriptionEncoder, source: DescriptionSource, params: UnsafeMutablePointer<Float>,
                     collective: Collective, between: (() throws -> Void)? = nil) throws {
        let writes = self.writes
        try encodeEverywhere(Array(0..<entityCount), encoder: encoder, source: source, params: params,
                             collective: collective, between: between) { e, fresh in
            if writes { storage.store(fresh, at: e * width, count: width) }
        }
        try sharing?.synchronize()
    }
}
