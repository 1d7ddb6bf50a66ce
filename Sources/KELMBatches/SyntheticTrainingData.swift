import KELMData
import KELMModel
import KELMNumerics

/// A deterministic synthetic corpus and KG, for tests and benchmarks: every segment, subgraph
/// and description is a pure function of (seed, segment id); masking and link sampling follow
/// DESIGN §3's rules, keyed by (seed, epoch, global sample index, purpose) as real data is.
/// Token ids follow BERT's special tokens ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103).
public final class SyntheticTrainingData: TrainingData {
    public let segmentCount: Int
    public let entityCount: Int
    public let numRelations: Int
    public let vocabSize: Int
    public let tokens: Int
    public let nodesPerSegment: Int
    public let seed: UInt64
    /// π_e of the epoch last filled from, kept so that a step allocates nothing.
    private var permutation: [Int32] = []
    private var permutationKey: (epoch: Int, seed: UInt64) = (-1, 0)
    public var edgesPerSegment: Int { 7 * nodesPerSegment }
    /// Every synthetic entity can be drawn into a subgraph.
    public var reachableEntities: [Int] { Array(0..<entityCount) }

    static let pad: Int32 = 0, cls: Int32 = 101, sep: Int32 = 102, mask: Int32 = 103, firstWord: Int32 = 104

    public init(segments: Int, entities: Int, relations: Int, vocabSize: Int, tokens: Int, nodesPerSegment: Int, seed: UInt64) {
        precondition(vocabSize > 200 && tokens >= 4 && nodesPerSegment >= 2 && entities >= nodesPerSegment,
                     "synthetic data needs vocab > 200, T ≥ 4, J ≥ 2, |E| ≥ J")
        segmentCount = segments
        entityCount = entities
        numRelations = relations
        self.vocabSize = vocabSize
        self.tokens = tokens
        self.nodesPerSegment = nodesPerSegment
        self.seed = seed
    }

    public func fill(_ batch: FusionBatch, step: Int, microStep: Int, rank: Int, order: SampleOrder) throws {
        batch.beginBatch(tokens: tokens)
        let epoch = step / order.stepsPerEpoch
        if permutationKey != (epoch, order.seed) || permutation.count != order.sampleCount {
            order.permutation(epoch: epoch, into: &permutation)
            permutationKey = (epoch, order.seed)
        }
        for position in order.positions(step: step % order.stepsPerEpoch, microStep: microStep, rank: rank) {
            let segment = Int(permutation[position])
            try appendSample(to: batch, segment: segment, epoch: epoch, globalIndex: UInt64(segment))
        }
        try batch.finishBatch(numRelations: numRelations, entityCount: entityCount)
    }

    func appendSample(to batch: FusionBatch, segment s: Int, epoch: Int, globalIndex: UInt64) throws {
        var content = RandomStream(RandomKey(seed: seed, purpose: .benchmark, stream: 10, item: UInt64(s)))
        let T = tokens, R = Int32(numRelations)
        let length = max(4, T / 2 + content.nextInt(below: T - T / 2 + 1))
        var ids = [Int32](repeating: Self.pad, count: T), attention = [Int32](repeating: 0, count: T)
        ids[0] = Self.cls
        for t in 1..<(length - 1) { ids[t] = Self.firstWord + Int32(content.nextInt(below: vocabSize - Int(Self.firstWord))) }
        ids[length - 1] = Self.sep
        for t in 0..<length { attention[t] = 1 }
        var mentions = [Int32](repeating: 0, count: T)
        for t in 1..<min(4, length - 1) { mentions[t] = 1 }
        // subgraph: interaction node, linked, others; distinct entities
        let n = 2 + content.nextInt(below: nodesPerSegment - 1)
        let linked = max(1, (n - 1) / 3)
        var entities: [Int32] = [-1], types: [Int32] = [0]
        var used = Set<Int32>()
        for v in 1..<n {
            var e: Int32
            repeat { e = Int32(content.nextInt(below: entityCount)) } while used.contains(e)
            used.insert(e)
            entities.append(e)
            types.append(v <= linked ? 1 : 2)
        }
        var kg: [(Int32, Int32, Int32)] = []
        if n > 2 {
            for v in 1..<n {
                for _ in 0..<2 {
                    var u = 1 + content.nextInt(below: n - 1)
                    if u == v { u = u % (n - 1) + 1 }
                    kg.append((Int32(v), Int32(content.nextInt(below: numRelations)), Int32(u)))
                }
            }
        }
        // masking (DESIGN §3): each synthetic token is a word
        var labels = [Int32](repeating: -100, count: T)
        var masking = RandomStream(RandomKey(seed: seed, epoch: UInt32(epoch), purpose: .masking, item: globalIndex))
        let words = Array(1..<(length - 1))
        let budget = max(1, Int((0.15 * Double(words.count) + 0.5).rounded(.down)))
        var shuffled = words
        for i in stride(from: shuffled.count - 1, to: 0, by: -1) { shuffled.swapAt(i, masking.nextInt(below: i + 1)) }
        for t in shuffled.prefix(budget) {
            labels[t] = ids[t]
            let u = masking.nextFloat()
            if u < 0.8 { ids[t] = Self.mask }
            else if u < 0.9 { ids[t] = Self.firstWord + Int32(masking.nextInt(below: vocabSize - Int(Self.firstWord))) }
        }
        // link prediction (DESIGN §3)
        var sampling = RandomStream(RandomKey(seed: seed, epoch: UInt32(epoch), purpose: .linkSampling, item: globalIndex))
        let P = min(100, kg.count * 15 / 100)
        for i in 0..<P { kg.swapAt(i, i + sampling.nextInt(below: kg.count - i)) }
        var removed = Set<[Int32]>()
        for i in 0..<(P * 9 / 10) { removed.insert([min(kg[i].0, kg[i].2), max(kg[i].0, kg[i].2)]) }
        var positives: [(head: Int32, relation: Int32, tail: Int32)] = []
        var negHeads: [Int32] = [], negTails: [Int32] = []
        for i in 0..<P {
            positives.append((kg[i].0, kg[i].1, kg[i].2))
            for _ in 0..<LinkBatch.negativesPerSide { negHeads.append(Int32(1 + sampling.nextInt(below: n - 1))) }
            for _ in 0..<LinkBatch.negativesPerSide { negTails.append(Int32(1 + sampling.nextInt(below: n - 1))) }
        }
        var edges: [(source: Int32, target: Int32, relation: Int32)] = []
        for v in 0..<n { edges.append((Int32(v), Int32(v), 2 * R + 2)) }
        for v in 1...linked {
            edges.append((0, Int32(v), 2 * R))
            edges.append((Int32(v), 0, 2 * R + 1))
        }
        for (a, r, b) in kg where !removed.contains([min(a, b), max(a, b)]) {
            edges.append((a, b, r))
            edges.append((b, a, r + R))
        }
        try batch.appendSegment(sampleIndex: globalIndex, inputIds: ids, attentionMask: attention, labels: labels,
                                mentionMask: mentions, nodeEntities: entities, nodeTypes: types, edges: edges,
                                positives: positives, negativeHeads: negHeads, negativeTails: negTails)
    }

    /// Descriptions are 4 … 15 tokens long, drawn from (seed, entity) alone, then cut to
    /// `capacity` (the last kept token `[SEP]`): what an entity's description is does not depend
    /// on who asks, so the memory's rows do not depend on how descriptions are batched or on the
    /// number of ranks.
    public static let longestDescription = 15

    public func description(of entity: Int, into tokens: UnsafeMutablePointer<Int32>, capacity: Int) throws
        -> (length: Int, start: Int, end: Int) {
        var rng = RandomStream(RandomKey(seed: seed, purpose: .benchmark, stream: 11, item: UInt64(entity)))
        let natural = 4 + rng.nextInt(below: Self.longestDescription - 3)
        let length = min(capacity, natural)
        tokens[0] = Self.cls
        for t in 1..<natural {
            let id = Self.firstWord + Int32(rng.nextInt(below: vocabSize - Int(Self.firstWord)))
            if t < length - 1 { tokens[t] = id }
        }
        tokens[length - 1] = Self.sep
        return (length, 1, min(2, length - 2))
    }
}
