import KELMNumerics

/// Every reduction of one training step's gradients over the ranks (DESIGN §5), in one place:
/// the dense buckets (through the node's shared memory, or MPI), the packed knowledge-path
/// buffer, the word embeddings' sparse input-side rows; then the global gradient norm and the
/// clipping scale. Built from the parameter table and, per policy stage, how each tensor is
/// reduced and after which backward stage it is final; everything goes through the `Collective`
/// protocol (and, when every rank is on one node, the `NodeSharing` it was given).
///
/// A step: `begin(stage:)`, backward calls `stageCompleted(_:)` and `poll()`, then `finish(…)`;
/// `globalNorm(…)` and `clipScale(…)` before the optimizer.
public final class GradientExchange {
    /// How one policy stage reduces each table entry, and after which backward stage (its
    /// position in the order backward completes them) the entry's gradient is final.
    public struct StagePlan: Sendable {
        public var reduction: [ReductionPolicy]
        public var readyStage: [Int]
        public init(reduction: [ReductionPolicy], readyStage: [Int]) {
            self.reduction = reduction
            self.readyStage = readyStage
        }
    }

    public let collective: Collective
    /// One dense reducer per policy stage.
    public let reducers: [GradientReducer]
    /// The node's shared gradient buffers, when the dense buckets are summed through them.
    public let shared: NodeSharedGradients?
    /// The packed knowledge-path gradients (all-reduced whole, in a stage that routes).
    public let pathGradients: FlatBuffer?
    let pathReduction: BucketReduction?
    let grads: FlatBuffer
    let table: ParameterTable
    let words: WordRows?
    public private(set) var activeStage = 0
    /// Bytes of the last step's sparse word rows (every rank's).
    public private(set) var sparseBytes = 0

    /// - Parameters:
    ///   - store: the parameters; when the node shares the gradients, the store's gradient
    ///     buffer is moved into the shared window here.
    ///   - stages: one plan per policy stage.
    ///   - nodeSharing: the node's shared memory, when the buckets should go through it
    ///     (`train.allreduce: auto` or `hierarchical`); nil: MPI.
    ///   - hierarchy: whether they may go through it when the job spans several nodes.
    ///   - wordEmbeddings: the word embeddings' table entry and the most rows a step produces,
    ///     when some stage exchanges their input-side rows sparsely.
    ///   - pathGradients: the knowledge paths' packed gradient buffer, when some stage routes.
    public init(store: ParameterStore, stages: [StagePlan], capBytes: Int, collective: Collective,
                nodeSharing: NodeSharing?, hierarchy: NodeSharedGradients.Hierarchy = .whenSeveralRanksPerNode, wordEmbeddings: (entry: ParameterEntry, capacity: Int)?,
                pathGradients: FlatBuffer?) throws {
        let table = store.table
        let buckets = stages.map {
            GradientReducer.plan(table: table, policies: $0.reduction, readyStage: $0.readyStage, capBytes: capBytes)
        }
        let shared = try nodeSharing?.sharedGradients(count: table.count, plans: buckets.map { $0.map(\.range) }, hierarchy: hierarchy)
        if let shared { store.useGradientStorage(shared.gradients) }
        let grads = store.grads
        reducers = try buckets.enumerated().map { i, b in
            try GradientReducer(buckets: b, grads: grads, collective: collective, shared: shared, sharedPlan: i)
        }
        // the path buffer, whole, through the same kind of reduction as the buckets
        pathReduction = try pathGradients.flatMap { p in
            collective.size == 1 ? nil : try collective.bucketReduction([p.buffer])
        }
        self.shared = shared
        self.collective = collective
        self.grads = grads
        self.table = table
        self.pathGradients = pathGradients
        words = wordEmbeddings.map { WordRows(entry: $0.entry, capacity: $0.capacity, ranks: collective.size) }
    }

    /// Releases the reductions' MPI requests and communicators (every rank calls it, after the
    /// last step or when the run ends on an error). Idempotent.
    public func close() throws {
        for r in reducers { try r.close() }
        try pathReduction?.close()
    }

    /// The active stage's reducer.
    public var reducer: GradientReducer { reducers[activeStage] }

    /// Floats in the gradient buffer (the parameter table's count).
    public var gradientCount: Int { grads.count }

    /// Bytes one step all-reduces densely in the active stage.
    public var denseBytes: Int { reducer.denseBytes }

    /// Makes `stage` the active one for the next step (its buckets; throws when the shared
    /// buffers were freed).
    public func activate(stage: Int) throws {
        activeStage = stage
        try reducer.requireBuffers()
    }

    /// Call before the backward pass whose gradients are reduced (the last micro-batch's).
    public func beginBackward() throws {
        try reducer.beginStep()
        // the path buffer's receives too, before a neighbour can send (later rounds post their own)
        try pathReduction?.prepare()
    }

    /// Backward has completed the stage at position `stage`: start every bucket now complete.
    public func stageCompleted(_ stage: Int) throws { try reducer.stageCompleted(stage) }

    /// Lets the reductions in flight progress.
    public func poll() throws { try reducer.poll() }

    /// Nanoseconds since `beginBackward`.
    public var elapsedNanoseconds: UInt64 { reducer.elapsedNanoseconds }

    /// Completes the step's exchange: the dense buckets, the path buffer (when `routed`), the
    /// word rows of `rows` (when given). `guarded` wraps each collective (the watchdog).
    /// Returns the nanoseconds spent waiting (the exposed communication).
    public func finish(routed: Bool, rows: SparseRows?,
                       guarded: (String, () throws -> Void) throws -> Void = { try $1() }) throws -> UInt64 {
        var exposed: UInt64 = 0
        try guarded("gradient all-reduce") { exposed += try reducer.finish() }
        if routed, let pathGradients {
            let t = Profiler.now()
            try guarded("knowledge-path all-reduce") {
                if let pathReduction { try pathReduction.start(0); try pathReduction.finish() }
            }
            exposed += Profiler.now() - t
        }
        sparseBytes = 0
        if let rows, let words {
            let t = Profiler.now()
            try guarded("word-embedding row exchange") { sparseBytes = try words.exchange(rows, into: grads, collective: collective) }
            exposed += Profiler.now() - t
        }
        return exposed
    }

    /// Bytes the last step exchanged: dense buckets, sparse rows, and the path buffer when routed.
    public func bytesExchanged(routed: Bool) -> Int {
        denseBytes + sparseBytes + (routed ? (pathGradients?.count ?? 0) * 4 : 0)
    }

    /// ‖g‖ over every entry not `frozen` (and the path buffer when `routed`); identical on every
    /// rank after the exchange.
    public func globalNorm(frozen: [Bool], routed: Bool) -> Double {
        var total = 0.0
        for (i, e) in table.entries.enumerated() where !frozen[i] {
            total += Double(VectorMath.sumOfSquares(e.ref.pointer(in: grads.pointer), count: e.count))
        }
        if routed, let pathGradients { total += Double(VectorMath.sumOfSquares(pathGradients.pointer, count: pathGradients.count)) }
        return total.squareRoot()
    }

    /// The factor global-norm clipping scales the gradients by (PyTorch's `clip_grad_norm_`:
    /// `clip / (norm + 1e-6)` when the norm exceeds `clip` > 0, else 1). The path buffer is
    /// scaled here (when `routed`); the dense gradients are scaled as the optimizer reads them.
    public func clipScale(norm: Double, clip: Double, routed: Bool) -> Float {
        guard clip > 0 && norm > clip else { return 1 }
        let scale = Float(clip / (norm + 1e-6))
        if routed, let pathGradients { for i in 0..<pathGradients.count { pathGradients.pointer[i] *= scale } }
        return scale
    }

    /// The word embeddings' input-side gradient rows of every rank, added (in rank order, the
    /// same on every rank) into the reduced gradient; buffers made once.
    final class WordRows {
        let entry: ParameterEntry
        let capacity: Int
        private var ids: [Int64]
        private var gatheredIds: [Int64]
        private let gatheredRows: FlatBuffer

        init(entry: ParameterEntry, capacity: Int, ranks: Int) {
            self.entry = entry
            self.capacity = capacity
            let width = entry.count / max(1, entry.shape.first ?? 1)
            ids = [Int64](repeating: 0, count: capacity)
            gatheredIds = [Int64](repeating: 0, count: ranks * capacity)
            gatheredRows = FlatBuffer(count: ranks * capacity * width)
        }

        /// Returns the bytes gathered.
        func exchange(_ rows: SparseRows, into grads: FlatBuffer, collective: Collective) throws -> Int {
            let d = rows.width
            for i in 0..<rows.count { ids[i] = Int64(rows.ids.pointer[i]) }
            let rowCount = try ids.withUnsafeBufferPointer { mine in
                try gatheredIds.withUnsafeMutableBufferPointer { all in
                    try collective.allGatherV(UnsafeBufferPointer(rebasing: mine[0..<rows.count]), into: all)
                }
            }
            _ = try collective.allGatherV(UnsafeBufferPointer(start: rows.values.pointer, count: rows.count * d),
                                          into: UnsafeMutableBufferPointer(start: gatheredRows.pointer, count: gatheredRows.count))
            let table = entry.ref.pointer(in: grads.pointer)
            for i in 0..<rowCount {
                ElementWise.accumulate(table + Int(gatheredIds[i]) * d, gatheredRows.pointer + i * d, count: d)
            }
            return rowCount * (8 + 4 * d)
        }
    }
}
