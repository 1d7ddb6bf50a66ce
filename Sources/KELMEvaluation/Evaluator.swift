import Foundation
import KELMDistributed
import KELMBatches
import KELMConfig
import KELMData
import KELMModel
import KELMNumerics

/// What an evaluation covers and how (docs/evaluation.md).
public struct EvaluationOptions: Equatable, Sendable {
    /// Keys the masking and link sampling of the held-out segments (with epoch 0 and the
    /// segment's index in its split): the same seed gives the same masked tokens.
    public var seed: UInt64 = 0
    /// J: nodes per subgraph at most, the interaction node included (`model.max_nodes`).
    public var maxNodes = 64
    /// Segments per forward pass; nil: as many as the model's buffers hold (its `maxBatch`).
    /// The metrics do not depend on the number of ranks; they may differ in the last float
    /// digits between batch sizes.
    public var batch: Int?
    /// Run the masked-LM part (held-out segments).
    public var maskedLM = true
    /// Run the link-prediction part (held-out triples).
    public var linkPrediction = true
    /// Evaluate only the first this many held-out segments (nil: all).
    public var maxSegments: Int?
    /// Rank only the first this many held-out triples (nil: all).
    public var maxTriples: Int?
    /// Rank among at most this many candidate entities (nil: every entity): the entities of the
    /// ranked triples, then others drawn by a seeded permutation. Faster, and optimistic.
    public var maxEntities: Int?
    /// Ranking queries scored per matrix product.
    public var queryChunk = 64
    /// Keep every masked token's loss in the result (`EvaluationResult.tokenLosses`), e.g. to
    /// compare two checkpoints token by token.
    public var recordTokenLosses = false

    public init() {}

    /// Options from a run's configuration: `data.seed` and `model.max_nodes`.
    public init(config: KELMConfig) {
        seed = UInt64(config.data.seed)
        maxNodes = config.model.maxNodes
    }

    /// Options for the periodic evaluation of `train`: those of `init(config:)` limited by
    /// `eval.max_entities`, `eval.max_segments` and `eval.max_triples`, which mean what
    /// `kelm-dist eval --max-entities/--max-segments/--max-triples` mean.
    public init(config: KELMConfig, limits: KELMConfig.EvalSection) {
        self.init(config: config)
        maxEntities = limits.maxEntities
        maxSegments = limits.maxSegments
        maxTriples = limits.maxTriples
    }
}

/// Evaluates a live fusion model (no checkpoint involved) on one held-out split
/// (docs/evaluation.md): masked LM on the split's segments with a fixed seeded masking, and
/// filtered link-prediction ranking of the split's triples over entity states computed from each
/// entity's own description segment. Dropout is off. Every rank takes a contiguous block of the
/// fixed global batches; per-batch sums and per-query ranks are gathered and combined in global
/// order, so the result is the same (bit for bit) on any number of ranks.
///
/// ```swift
/// let evaluator = try Evaluator(model: trainer.model, data: try EvaluationData(training: data, split: .valid),
///                               options: EvaluationOptions(config: config))
/// let result = try evaluator.evaluate(memory: trainer.memory.rows, collective: collective)
/// ```
///
/// It uses the model's activation buffers (run it between training steps, not during one) and
/// reads the parameters from `model.store.values` at each call.
public final class Evaluator {
    public let model: FusionModel
    public let data: EvaluationData
    public let options: EvaluationOptions
    /// Segments per forward pass.
    public let batchSize: Int
    /// Hears progress (rank 0 should pass it on; other ranks usually ignore it).
    public var log: ((String) -> Void)?
    /// Guards every collective (e.g. the training run's), keyed by `step`.
    public var watchdog: CollectiveWatchdog?

    let batch: FusionBatch
    let loaderBatch: TrainingBatch
    let assembler: BatchAssembler
    /// Entities ranked for link prediction (ascending) and the order their states are computed in.
    private var plan: EntityPlan?

    public init(model: FusionModel, data: EvaluationData, options: EvaluationOptions = EvaluationOptions()) throws {
        let dataset = data.dataset
        let B = options.batch ?? model.maxBatch
        guard B >= 1, B <= model.maxBatch else {
            throw EvaluationError.capacity("evaluation batch \(B): the model's buffers hold 1…\(model.maxBatch) segments")
        }
        guard options.maxNodes >= 2 else { throw EvaluationError.capacity("J (model.max_nodes) must be at least 2 for link prediction") }
        guard model.maxNodes / B >= options.maxNodes else {
            throw EvaluationError.capacity("the model's buffers hold \(model.maxNodes) nodes, fewer than \(B) segments × J \(options.maxNodes)")
        }
        guard dataset.maxTokens <= model.maxTokens else {
            throw EvaluationError.mismatch("the dataset has segments of up to \(dataset.maxTokens) tokens, more than the model's \(model.maxTokens) (model.max_tokens)")
        }
        guard dataset.vocabularySize == model.config.bert.vocabSize else {
            throw EvaluationError.mismatch("the dataset's vocabulary has \(dataset.vocabularySize) tokens, the model's \(model.config.bert.vocabSize)")
        }
        guard dataset.relationCount == model.config.numRelations else {
            throw EvaluationError.mismatch("the dataset has \(dataset.relationCount) relations, the model's link-prediction head \(model.config.numRelations)")
        }
        self.model = model
        self.data = data
        self.options = options
        batchSize = B
        batch = FusionBatch(batch: B, tokens: model.maxTokens, nodesPerSegment: model.maxNodes / B,
                            edgesPerSegment: model.maxEdges / B, positivesPerSegment: model.maxPositives / B)
        loaderBatch = TrainingBatch(segments: B, tokens: model.maxTokens, maxNodes: options.maxNodes,
                                    relationCount: dataset.relationCount)
        assembler = BatchAssembler(graph: dataset.trainingGraph, maxNodes: options.maxNodes,
                                   vocabularySize: dataset.vocabularySize, specialTokens: dataset.specialTokens,
                                   seed: options.seed)
    }

    /// The held-out segments evaluated.
    public var segmentCount: Int { min(data.segmentCount, options.maxSegments ?? Int.max) }
    /// The held-out triples ranked.
    public var rankedTriples: ArraySlice<Triple> { data.triples.prefix(options.maxTriples ?? Int.max) }

    /// Evaluates with entity memory `memory` ([|E|, d], the same on every rank). Every rank
    /// must call it (it runs collectives); every rank gets the same result. `step` only labels
    /// the result and the watchdog's messages.
    public func evaluate(memory: EntityRows, collective: Collective, step: Int? = nil) throws -> EvaluationResult {
        let start = Profiler.now()
        var result = EvaluationResult(split: data.split.rawValue)
        result.step = step
        if options.maskedLM { try maskedLM(memory: memory, collective: collective, step: step ?? 0, into: &result) }
        if options.linkPrediction { try linkPrediction(memory: memory, collective: collective, step: step ?? 0, into: &result) }
        result.seconds = Double(Profiler.now() - start) * 1e-9
        return result
    }

    // MARK: - collectives

    func guarded<T>(_ name: String, step: Int, _ body: () throws -> T) throws -> T {
        guard let watchdog else { return try body() }
        return try watchdog.guarding("evaluation: " + name, step: step, body)
    }

    /// The contiguous block of `count` items (batches, chunks) that `rank` takes, balanced by
    /// `cost` when given (prefix sums cut at equal shares), else by count.
    static func block(count: Int, rank: Int, size: Int, cost: [Double]? = nil) -> Range<Int> {
        guard let cost, count > 0 else {
            let base = count / size, extra = count % size
            let start = rank * base + min(rank, extra)
            return start..<(start + base + (rank < extra ? 1 : 0))
        }
        var prefix = [Double](repeating: 0, count: count + 1)
        for i in 0..<count { prefix[i + 1] = prefix[i] + cost[i] }
        let total = prefix[count]
        func boundary(_ r: Int) -> Int {
            if r == 0 { return 0 }
            if r == size { return count }
            let target = total * Double(r) / Double(size)
            var i = 0
            while i < count && (prefix[i] + prefix[i + 1]) / 2 < target { i += 1 }
            return i
        }
        return boundary(rank)..<boundary(rank + 1)
    }

    // MARK: - masked LM

    /// Per-batch sums, in this order.
    enum Sum: Int, CaseIterable {
        case loss, count, correct, mentionLoss, mentionCount, mentionCorrect, lpLoss, lpCount
    }

    func maskedLM(memory: EntityRows, collective: Collective, step: Int, into result: inout EvaluationResult) throws {
        let S = segmentCount, B = batchSize
        let batches = (S + B - 1) / B
        let mine = Self.block(count: batches, rank: collective.rank, size: collective.size)
        log?("evaluation (\(data.split.rawValue)): masked LM on \(S) held-out segments, \(batches) batches of \(B), about \(mine.count) on this rank")
        let width = Sum.allCases.count
        var local = [Double]()
        local.reserveCapacity(mine.count * width)
        var tokens = [Double]()     // recordTokenLosses: 5 numbers per masked token
        for k in mine {
            local += try maskedLMBatch(segments: (k * B)..<min(S, (k + 1) * B), memory: memory,
                                       tokenLosses: options.recordTokenLosses ? { (t: MaskedTokenLoss) in
                                           tokens.append(contentsOf: [Double(t.segment), Double(t.position), Double(t.token),
                                                                      t.mention ? 1 : 0, t.loss])
                                       } : nil)
        }
        let all = try guarded("gather of the masked-LM sums", step: step) {
            try local.withUnsafeBufferPointer { try collective.allGatherV($0) }
        }
        if options.recordTokenLosses {
            let gathered = try guarded("gather of the masked tokens' losses", step: step) {
                try tokens.withUnsafeBufferPointer { try collective.allGatherV($0) }
            }
            var records: [MaskedTokenLoss] = []
            records.reserveCapacity(gathered.count / 5)
            for i in stride(from: 0, to: gathered.count, by: 5) {
                let mention: Bool = gathered[i + 3] != 0
                records.append(MaskedTokenLoss(segment: Int(gathered[i]), position: Int(gathered[i + 1]),
                                               token: Int(gathered[i + 2]), mention: mention, loss: gathered[i + 4]))
            }
            result.tokenLosses = records
        }
        precondition(all.count == batches * width, "every batch's sums are gathered")
        var total = [Double](repeating: 0, count: width)
        for k in 0..<batches { for j in 0..<width { total[j] += all[k * width + j] } }
        let count = total[Sum.count.rawValue], mentions = total[Sum.mentionCount.rawValue], lp = total[Sum.lpCount.rawValue]
        result.segments = S
        result.maskedTokens = Int(count)
        result.mentionMaskedTokens = Int(mentions)
        result.lpPositives = Int(lp)
        if count > 0 {
            result.mlmLoss = total[Sum.loss.rawValue] / count
            result.mlmPerplexity = exp(result.mlmLoss!)
            result.mlmAccuracy = total[Sum.correct.rawValue] / count
        }
        if mentions > 0 {
            result.mentionMLMLoss = total[Sum.mentionLoss.rawValue] / mentions
            result.mentionMLMPerplexity = exp(result.mentionMLMLoss!)
            result.mentionMLMAccuracy = total[Sum.mentionCorrect.rawValue] / mentions
        }
        if lp > 0 { result.lpLoss = total[Sum.lpLoss.rawValue] / lp }
    }

    /// One batch of held-out segments, assembled as training segments are (the data module's
    /// subgraph rule, whole-word masking and link sampling keyed by (seed, epoch 0, index in
    /// the split)); returns its sums.
    func maskedLMBatch(segments: Range<Int>, memory: EntityRows,
                       tokenLosses: ((MaskedTokenLoss) -> Void)? = nil) throws -> [Double] {
        let dataset = data.dataset
        assembler.begin(loaderBatch)
        for i in segments {
            assembler.append(try dataset.segment(i, split: data.split), sample: i, epoch: 0, to: loaderBatch)
        }
        try batch.load(from: loaderBatch, numRelations: dataset.relationCount, entityCount: dataset.entityCount)
        Self.trimPadding(batch)
        let out = model.forward(text: batch.text, graph: batch.graph, links: batch.links, memory: memory, mode: .inference)
        let T = batch.text.tokens
        var sums = Self.maskedTokenSums(head: model.mlmHead, labels: batch.text.labels.pointer,
                                        mentionMask: batch.mentionMask.pointer, vocabulary: model.config.bert.vocabSize,
                                        each: tokenLosses.map { record in
                                            { row, label, mention, loss in
                                                record(MaskedTokenLoss(segment: segments.lowerBound + row / T, position: row % T,
                                                                       token: label, mention: mention, loss: loss))
                                            }
                                        })
        sums[Sum.lpLoss.rawValue] = out.lpLossSum
        sums[Sum.lpCount.rawValue] = Double(out.lpCount)
        return sums
    }

    /// Cuts the batch's text to its longest segment (the loader pads every segment to T;
    /// held-out segments are often much shorter). Rows move down in place.
    static func trimPadding(_ batch: FusionBatch) {
        let text = batch.text, B = text.batch, T = text.tokens
        var longest = 1
        for b in 0..<B {
            var n = 0
            for t in 0..<T where text.attentionMask.pointer[b * T + t] != 0 { n = t + 1 }
            longest = max(longest, n)
        }
        guard longest < T else { return }
        for buffer in [text.inputIds, text.attentionMask, text.labels, batch.mentionMask] {
            for b in 1..<max(1, B) {
                for t in 0..<longest { buffer.pointer[b * longest + t] = buffer.pointer[b * T + t] }
            }
        }
        text.reshape(batch: B, tokens: longest)
    }

    /// Cross-entropy and arg-max hits at the masked rows the MLM head computed logits for, over
    /// all of them and over those inside mentions (`CrossEntropy.rowLoss`, the formula of
    /// `CrossEntropy.forward`, so the overall sum equals the model's `mlmLossSum`).
    static func maskedTokenSums(head: MaskedLMHead, labels: UnsafePointer<Int32>, mentionMask: UnsafePointer<Int32>,
                                vocabulary V: Int,
                                each: ((_ row: Int, _ label: Int, _ mention: Bool, _ loss: Double) -> Void)? = nil) -> [Double] {
        var sums = [Double](repeating: 0, count: Sum.allCases.count)
        for i in 0..<head.selectedRows {
            let row = head.row(i)
            let label = Int(labels[row])
            guard label >= 0 else { continue }
            let (loss, isHit) = CrossEntropy.rowLoss(UnsafePointer(head.logits.pointer) + i * V, classes: V, label: label)
            let hit = isHit ? 1.0 : 0.0
            each?(row, label, mentionMask[row] != 0, loss)
            sums[Sum.loss.rawValue] += loss
            sums[Sum.count.rawValue] += 1
            sums[Sum.correct.rawValue] += hit
            if mentionMask[row] != 0 {
                sums[Sum.mentionLoss.rawValue] += loss
                sums[Sum.mentionCount.rawValue] += 1
                sums[Sum.mentionCorrect.rawValue] += hit
            }
        }
        return sums
    }

    // MARK: - link prediction

    /// The candidate entities and the batches their segments are computed in.
    struct EntityPlan {
        /// Candidate entities, ascending; column c of the state matrix is candidates[c].
        var candidates: [Int32]
        /// Column of each entity (−1: not a candidate).
        var column: [Int32]
        /// The candidates in computation order: by description length, then id.
        var order: [Int32]
        /// Batch k is order[starts[k] ..< starts[k + 1]].
        var starts: [Int]
        /// Tokens of each batch (its longest description).
        var tokens: [Int]
        /// Cost of each batch (tokens × segments), for balancing the ranks.
        var cost: [Double]
    }

    /// The candidates: every entity, or (with `maxEntities`) the ranked triples' entities plus
    /// others in a seeded random order up to the limit.
    func candidates() -> [Int32] {
        let E = data.entityCount
        guard let limit = options.maxEntities, limit < E else { return (0..<Int32(E)).map { $0 } }
        var chosen = [Bool](repeating: false, count: E)
        var count = 0
        for t in rankedTriples {
            for e in [t.head, t.tail] where !chosen[Int(e)] { chosen[Int(e)] = true; count += 1 }
        }
        var others = (0..<E).filter { !chosen[$0] }
        var random = RandomStream(RandomKey(seed: options.seed, purpose: .shuffle, stream: 0x4341_4E44))  // "CAND"
        var i = 0
        while count < limit && i < others.count {
            others.swapAt(i, i + random.nextInt(below: others.count - i))
            chosen[others[i]] = true
            count += 1
            i += 1
        }
        return (0..<Int32(E)).filter { chosen[Int($0)] }
    }

    func makePlan() -> EntityPlan {
        let E = data.entityCount
        let candidates = self.candidates()
        var column = [Int32](repeating: -1, count: E)
        for (c, e) in candidates.enumerated() { column[Int(e)] = Int32(c) }
        let capacityTokens = model.maxTokens
        let length = candidates.map { data.descriptionLength(of: Int($0), capacity: capacityTokens) }
        let order = candidates.indices.sorted { length[$0] != length[$1] ? length[$0] < length[$1] : $0 < $1 }
        var builder = EntitySubgraphBuilder(graph: data.dataset.trainingGraph, maxNodes: options.maxNodes,
                                            maxEdges: batch.graph.capacityEdges)
        var starts = [0], tokens: [Int] = [], cost: [Double] = []
        var segments = 0, nodes = 0, edges = 0, longest = 0
        func close(at i: Int) {
            starts.append(i)
            tokens.append(longest)
            cost.append(Double(longest * segments))
            segments = 0; nodes = 0; edges = 0; longest = 0
        }
        for (i, c) in order.enumerated() {
            let s = builder.build(candidates[c])
            if segments == batchSize || nodes + s.nodeCount > batch.graph.capacityNodes
                || edges + s.edgeCount > batch.graph.capacityEdges {
                close(at: i)
            }
            segments += 1
            nodes += s.nodeCount
            edges += s.edgeCount
            longest = max(longest, length[c])
        }
        if segments > 0 { close(at: order.count) }
        return EntityPlan(candidates: candidates, column: column, order: order.map { candidates[$0] }, starts: starts,
                          tokens: tokens, cost: cost)
    }

    /// LN(n) of each entity of batch `k` (rows in plan order) appended to `states`.
    func entityStates(batch k: Int, plan: EntityPlan, memory: EntityRows, builder: inout EntitySubgraphBuilder,
                      into states: inout [Float]) throws {
        let dataset = data.dataset
        let R = Int32(dataset.relationCount), T = plan.tokens[k], g = model.config.gnnHidden
        let pad = dataset.specialTokens.pad
        batch.beginBatch(tokens: T)
        let zeros = [Int32](repeating: 0, count: T), ignored = [Int32](repeating: WholeWordMasking.ignoredLabel, count: T)
        for e in plan.order[plan.starts[k]..<plan.starts[k + 1]] {
            let description = data.description(of: Int(e), capacity: T)
            var ids = [Int32](repeating: pad, count: T), attention = zeros
            for (t, id) in description.enumerated() { ids[t] = id; attention[t] = 1 }
            if description.count < Int(data.descriptionPointer[Int(e) + 1] - data.descriptionPointer[Int(e)]) {
                ids[description.count - 1] = dataset.specialTokens.sep
            }
            let s = builder.build(e)
            let n = s.nodeCount
            var types = [Int32](repeating: 2, count: n)
            types[0] = 0
            types[1] = 1
            var edges: [(source: Int32, target: Int32, relation: Int32)] = []
            edges.reserveCapacity(s.edgeCount)
            for edge in s.edges {
                edges.append((edge.source + 1, edge.target + 1, edge.relation))
                edges.append((edge.target + 1, edge.source + 1, R + edge.relation))
            }
            edges.append((0, 1, 2 * R))
            edges.append((1, 0, 2 * R + 1))
            for v in 0..<Int32(n) { edges.append((v, v, 2 * R + 2)) }
            try batch.appendSegment(sampleIndex: UInt64(e), inputIds: ids, attentionMask: attention, labels: ignored,
                                    mentionMask: zeros, nodeEntities: [-1] + s.nodes, nodeTypes: types, edges: edges,
                                    positives: [], negativeHeads: [], negativeTails: [])
        }
        try batch.finishBatch(numRelations: dataset.relationCount, entityCount: dataset.entityCount)
        _ = model.forward(text: batch.text, graph: batch.graph, links: batch.links, memory: memory, mode: .inference)
        let normed = model.linkHead.normed.pointer
        for b in 0..<batch.graph.graphs {
            let node = Int(batch.graph.nodePtr.pointer[b]) + 1
            states.append(contentsOf: UnsafeBufferPointer(start: normed + node * g, count: g))
        }
    }

    /// LN(n) of every candidate entity, rows in column order (candidates ascending), the same on
    /// every rank: each rank computes a contiguous block of the fixed batches (balanced by cost)
    /// and the blocks are all-gathered.
    func candidateStates(memory: EntityRows, collective: Collective, step: Int) throws -> (plan: EntityPlan, states: FlatBuffer) {
        if plan == nil { plan = makePlan() }
        let plan = self.plan!
        let g = model.config.gnnHidden
        let E = plan.candidates.count
        let batches = plan.tokens.count
        let mine = Self.block(count: batches, rank: collective.rank, size: collective.size, cost: plan.cost)
        log?("evaluation (\(data.split.rawValue)): states of \(E) candidate entities from their description segments, \(batches) batches, \(mine.count) on this rank")
        var builder = EntitySubgraphBuilder(graph: data.dataset.trainingGraph, maxNodes: options.maxNodes,
                                            maxEdges: batch.graph.capacityEdges)
        var local: [Float] = []
        local.reserveCapacity((plan.starts[mine.upperBound] - plan.starts[mine.lowerBound]) * g)
        let started = Profiler.now()
        var reported = started
        for k in mine {
            try entityStates(batch: k, plan: plan, memory: memory, builder: &builder, into: &local)
            let now = Profiler.now()
            if now - reported > 30_000_000_000 && k + 1 < mine.upperBound {
                reported = now
                let done = k - mine.lowerBound + 1, seconds = Double(now - started) * 1e-9
                log?(String(format: "evaluation: entity states, %d of %d batches on this rank in %.0f s, about %.0f s to go", done,
                            mine.count, seconds, seconds / Double(done) * Double(mine.count - done)))
            }
        }
        let gathered = try guarded("gather of the entity states", step: step) {
            try local.withUnsafeBufferPointer { try collective.allGatherV($0) }
        }
        precondition(gathered.count == E * g, "every candidate's state is gathered")
        let states = FlatBuffer(count: E * g)
        for (i, e) in plan.order.enumerated() {
            (states.pointer + Int(plan.column[Int(e)]) * g).update(from: gathered, offset: i * g, count: g)
        }
        return (plan, states)
    }

    func linkPrediction(memory: EntityRows, collective: Collective, step: Int, into result: inout EvaluationResult) throws {
        let triples = Array(rankedTriples)
        result.triples = triples.count
        guard !triples.isEmpty else { return }
        let (plan, states) = try candidateStates(memory: memory, collective: collective, step: step)
        let g = model.config.gnnHidden
        let E = plan.candidates.count
        result.candidates = E
        // queries (h, r, ?) then (?, r, t) per triple, in fixed global chunks, each rank a block
        let Q = 2 * triples.count, C = max(1, options.queryChunk)
        let chunks = (Q + C - 1) / C
        let myChunks = Self.block(count: chunks, rank: collective.rank, size: collective.size)
        log?("evaluation (\(data.split.rawValue)): ranking \(triples.count) held-out triples both ways among \(E) candidates")
        let w = UnsafePointer(model.parameters.linkPrediction.relation.pointer(in: model.store.values.pointer))
        let queries = FlatBuffer(count: C * g), scores = FlatBuffer(count: C * E)
        var filtered = [Bool](repeating: false, count: E)
        var ranks: [Double] = []
        let scale = 1 / Float(g).squareRoot()
        for chunk in myChunks {
            let range = (chunk * C)..<min(Q, (chunk + 1) * C)
            for (i, q) in range.enumerated() {
                let t = triples[q / 2]
                let anchor = q % 2 == 0 ? t.head : t.tail
                let a = UnsafePointer(states.pointer) + Int(plan.column[Int(anchor)]) * g, wr = w + Int(t.relation) * g
                let out = queries.pointer + i * g
                for c in 0..<g { out[c] = a[c] * wr[c] * scale }
            }
            // scores[i, c] = Σ n̂_anchor ⊙ w_r ⊙ n̂_c / √d_g
            Linear.forward(y: scores.pointer, x: queries.pointer, weight: states.pointer, bias: nil,
                           rows: range.count, inFeatures: g, outFeatures: E)
            for (i, q) in range.enumerated() {
                let t = triples[q / 2]
                let tailQuery = q % 2 == 0
                let target = tailQuery ? t.tail : t.head
                let answers = tailQuery ? data.known.tails(head: t.head, relation: t.relation)
                                        : data.known.heads(tail: t.tail, relation: t.relation)
                var marked: [Int] = []
                for a in answers where a != target {
                    let c = Int(plan.column[Int(a)])
                    if c >= 0 && !filtered[c] { filtered[c] = true; marked.append(c) }
                }
                let row = UnsafeBufferPointer(start: scores.pointer + i * E, count: E)
                ranks.append(FilteredRanking.rank(scores: row, target: Int(plan.column[Int(target)]), isFiltered: { filtered[$0] }))
                for c in marked { filtered[c] = false }
            }
        }
        let allRanks = try guarded("gather of the ranks", step: step) {
            try ranks.withUnsafeBufferPointer { try collective.allGatherV($0) }
        }
        precondition(allRanks.count == Q, "every query's rank is gathered")
        let metrics = RankingMetrics(ranks: allRanks)
        result.mrr = metrics.mrr
        result.hits1 = metrics.hits(1)
        result.hits3 = metrics.hits(3)
        result.hits10 = metrics.hits(10)
    }
}

extension UnsafeMutablePointer where Pointee == Float {
    fileprivate func update(from array: [Float], offset: Int, count: Int) {
        array.withUnsafeBufferPointer { self.update(from: $0.baseAddress! + offset, count: count) }
    }
}
