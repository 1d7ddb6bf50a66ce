import KELMModel
import KELMNumerics

/// Where entity descriptions come from: `[CLS] description [SEP]` token ids (cut to the
/// configured length) and the (s, o) token span of the entity's name in it (DESIGN §4).
public protocol DescriptionSource: AnyObject {
    var entityCount: Int { get }
    /// Fills `tokens` with entity `e`'s description cut to `capacity` tokens (`[SEP]` kept last)
    /// and returns its length and span. What it writes must not depend on anything but the entity
    /// and `capacity` (the rows of the memory must not depend on how descriptions are batched).
    func description(of entity: Int, into tokens: UnsafeMutablePointer<Int32>, capacity: Int) throws
        -> (length: Int, start: Int, end: Int)
}

/// One encoding pass over a set of entities' descriptions (DESIGN §4), planned the same on every
/// rank: the descriptions sorted by length (then by their position in the set), cut into batches
/// of at most `maxDescriptions` descriptions and `maxRows` token positions, each batch padded only
/// to its own longest description; the batches are split into contiguous blocks of about equal
/// padded tokens, one block per rank. A description is encoded in the same batch beside the same
/// descriptions whatever the number of ranks, so the rows do not depend on it.
public struct DescriptionBatches: Sendable {
    /// Positions into the planned entities, sorted by (description length, position).
    public let order: [Int32]
    /// The description length of each entry of `order`.
    public let lengths: [Int32]
    /// The batches, as ranges of `order`.
    public let batches: [Range<Int>]

    /// Plans `lengths.count` descriptions of the given lengths (each at least 2).
    public init(lengths byPosition: [Int], maxDescriptions: Int, maxRows: Int) {
        precondition(maxDescriptions >= 1 && maxRows >= 1, "DescriptionBatches: a batch holds at least one description")
        let order = byPosition.indices.sorted { (byPosition[$0], $0) < (byPosition[$1], $1) }
        self.order = order.map { Int32($0) }
        lengths = order.map { Int32(byPosition[$0]) }
        var batches: [Range<Int>] = []
        var start = 0
        while start < order.count {
            // sorted ascending, so the batch's longest is its last: grow while the padded batch fits
            var end = start + 1
            while end < order.count && end - start < maxDescriptions && (end + 1 - start) * Int(lengths[end]) <= maxRows {
                end += 1
            }
            batches.append(start..<end)
            start = end
        }
        self.batches = batches
    }

    /// Padded token positions of batch `b` (its descriptions × its longest).
    public func paddedTokens(_ b: Int) -> Int { batches[b].count * Int(lengths[batches[b].upperBound - 1]) }

    /// The batches (indices into `batches`) that `rank` of `size` encodes: contiguous, in order,
    /// about equal padded tokens each (a batch goes to the rank whose share holds its middle).
    public func block(rank: Int, size: Int) -> Range<Int> {
        precondition(size >= 1 && rank >= 0 && rank < size, "DescriptionBatches.block: rank \(rank) of \(size)")
        let total = (0..<batches.count).reduce(0) { $0 + paddedTokens($1) }
        var lower = batches.count, upper = batches.count
        var before = 0
        for b in batches.indices {
            let cost = paddedTokens(b)
            // owner of the batch's middle token: ⌊(before + cost/2) · size / total⌋, in 2× units
            let owner = total == 0 ? 0 : min(size - 1, (2 * before + cost) * size / (2 * total))
            if owner == rank && lower == batches.count { lower = b }
            if owner > rank { upper = b; break }
            before += cost
        }
        return lower <= upper ? lower..<upper : upper..<upper
    }

    /// The positions of `order` that the batches `block` cover.
    public func entries(_ block: Range<Int>) -> Range<Int> {
        guard let first = block.first, let last = block.last else { return 0..<0 }
        return batches[first].lowerBound..<batches[last].upperBound
    }
}

/// JAKET's LM1: the embeddings and the first L−K layers of the LM, dropout off, run over
/// entity descriptions. It shares the model's parameters (reads them from the store at each
/// call) and owns its own activation buffers, sized for batches of `maxRows` token positions
/// of descriptions of at most `tokens` tokens.
///
/// Only Z at (s, o) is wanted (M_new[e] = (Z_s + Z_o)/2), so the top LM1 layer runs at those
/// two rows of each description (`BertLayer.forwardRows`): every row's keys and values, the
/// queries, attention output and FFN at the two rows only.
public final class DescriptionEncoder {
    let config: BertConfig
    let embeddings: BertEmbeddings
    let layers: [BertLayer]
    let text: TokenBatch
    /// Token positions per batch at most, and descriptions per batch at most.
    public let maxRows: Int, maxDescriptions: Int
    /// Tokens per description at most (`memory.description_tokens`).
    public let tokens: Int
    private var chosenRows: [Int32], chosenSegments: [Int32]
    private var spans: [(start: Int, end: Int)]
    private let scratch: UnsafeMutablePointer<Int32>

    /// - Parameters:
    ///   - parameters: the LM's parameter references (of the model whose store will be passed).
    ///   - layerCount: L − K, the text-only layers (0: Z is the embeddings' output).
    ///   - maxRows: token positions per batch (default 2048: `sgemm` runs at its peak from a few
    ///     hundred rows; the buffers take about 28 KB per row and layer at d 384).
    ///   - tokens: the longest description (`memory.description_tokens`); `maxRows` is raised to
    ///     two of them if it is smaller.
    public init(parameters: BertMaskedLM.Parameters, config: BertConfig, layerCount: Int, maxRows: Int = 2048, tokens: Int) {
        precondition(layerCount >= 0 && tokens >= 2 && maxRows >= 1, "DescriptionEncoder: descriptions of at least [CLS] [SEP]")
        let maxRows = max(maxRows, 2 * tokens)  // room for two of the longest descriptions
        var c = config
        c.hiddenDropout = 0
        c.attentionDropout = 0
        self.config = c
        self.maxRows = maxRows
        self.tokens = tokens
        maxDescriptions = maxRows / 2
        embeddings = BertEmbeddings(parameters.embeddings, config: c, maxRows: maxRows)
        layers = (0..<layerCount).map {
            BertLayer(parameters.layers[$0], index: $0, config: c, maxBatch: maxRows / 2, maxTokens: tokens, maxRows: maxRows)
        }
        text = TokenBatch(capacityBatch: maxDescriptions, capacityTokens: tokens)
        chosenRows = [Int32](repeating: 0, count: 2 * maxDescriptions)
        chosenSegments = [Int32](repeating: 0, count: 2 * maxDescriptions)
        spans = [(Int, Int)](repeating: (0, 0), count: maxDescriptions)
        scratch = .allocate(capacity: tokens)
    }

    deinit { scratch.deallocate() }

    /// The plan of one pass over `entities` (the same on every rank).
    public func plan(entities: some Collection<Int>, source: DescriptionSource) throws -> DescriptionBatches {
        var lengths: [Int] = []
        lengths.reserveCapacity(entities.count)
        for e in entities { lengths.append(try source.description(of: e, into: scratch, capacity: tokens).length) }
        return DescriptionBatches(lengths: lengths, maxDescriptions: maxDescriptions, maxRows: maxRows)
    }

    /// Encodes the batches `block` of `plan` over `entities` and writes M_new of the entries
    /// `plan.entries(block)`, in plan order, into `output` ([entries, d]).
    public func encode(_ plan: DescriptionBatches, block: Range<Int>, entities: [Int], source: DescriptionSource,
                       params: UnsafeMutablePointer<Float>, output: UnsafeMutablePointer<Float>) throws {
        let d = config.hiddenSize
        let first = plan.entries(block).lowerBound
        for b in block {
            let batch = plan.batches[b]
            let count = batch.count, T = Int(plan.lengths[batch.upperBound - 1])
            text.reshape(batch: count, tokens: T)
            text.inputIds.pointer.update(repeating: Int32(config.padTokenId), count: count * T)
            text.attentionMask.pointer.update(repeating: 0, count: count * T)
            var m = 0
            for (k, position) in batch.enumerated() {
                let r = try source.description(of: entities[Int(plan.order[position])], into: scratch, capacity: tokens)
                precondition(r.length == Int(plan.lengths[position]), "DescriptionSource: entity \(entities[Int(plan.order[position])])'s description changed length")
                (text.inputIds.pointer + k * T).update(from: scratch, count: r.length)
                for t in 0..<r.length { text.attentionMask.pointer[k * T + t] = 1 }
                spans[k] = (r.start, r.end)
                chosenRows[m] = Int32(k * T + r.start); chosenSegments[m] = Int32(k); m += 1
                if r.end != r.start { chosenRows[m] = Int32(k * T + r.end); chosenSegments[m] = Int32(k); m += 1 }
            }
            embeddings.forward(batch: text, params: params, mode: .inference)
            var x = UnsafePointer(embeddings.output.pointer)
            for layer in layers.dropLast() {  // every row; the top layer only where Z is read
                layer.forward(x: x, batch: text, params: params, mode: .inference)
                x = UnsafePointer(layer.output.pointer)
            }
            // Z at the chosen rows: the top layer run there only (or the embeddings when L − K = 0)
            let z: UnsafePointer<Float>
            if let top = layers.last {
                chosenRows.withUnsafeBufferPointer { rows in
                    chosenSegments.withUnsafeBufferPointer { segments in
                        top.forwardRows(UnsafeBufferPointer(rebasing: rows[0..<m]), segments: UnsafeBufferPointer(rebasing: segments[0..<m]),
                                        x: x, batch: text, params: params)
                    }
                }
                z = UnsafePointer(top.output.pointer)
            } else {
                z = x
            }
            let direct = layers.isEmpty
            let atRow = { (i: Int) in direct ? z + Int(self.chosenRows[i]) * d : z + i * d }
            var row = 0
            for k in 0..<count {
                let zs = atRow(row)
                let zo = spans[k].end != spans[k].start ? atRow(row + 1) : zs
                row += spans[k].end != spans[k].start ? 2 : 1
                let out = output + (batch.lowerBound + k - first) * d
                for c in 0..<d { out[c] = 0.5 * (zs[c] + zo[c]) }
            }
        }
    }

    /// Encodes every description of `entities` on this process alone and writes M_new[entities[i]]
    /// into row i of `output` ([entities.count, d]).
    public func encode(entities: ArraySlice<Int>, source: DescriptionSource, params: UnsafeMutablePointer<Float>,
                       output: UnsafeMutablePointer<Float>) throws {
        let ids = Array(entities)
        let plan = try self.plan(entities: ids, source: source)
        let d = config.hiddenSize
        let sorted = UnsafeMutablePointer<Float>.allocate(capacity: max(1, ids.count * d))
        defer { sorted.deallocate() }
        try encode(plan, block: 0..<plan.batches.count, entities: ids, source: source, params: params, output: sorted)
        for (i, position) in plan.order.enumerated() {
            (output + Int(position) * d).update(from: sorted + i * d, count: d)
        }
    }
}
