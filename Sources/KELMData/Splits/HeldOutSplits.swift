import KELMNumerics

/// Which part of the data: training, validation or test.
public enum DataSplit: String, CaseIterable, Sendable {
    case train
    case valid
    case test
}

/// Fractions and seed of the held-out splits that `prepare` makes.
public struct SplitOptions: Equatable, Sendable {
    /// Share of the segments held out for validation (default 1%).
    public var validSegments: Double = 0.01
    /// Share of the segments held out for testing (default 1%).
    public var testSegments: Double = 0.01
    /// Share of the triples held out for validation (default 1%).
    public var validTriples: Double = 0.01
    /// Share of the triples held out for testing (default 1%).
    public var testTriples: Double = 0.01
    /// Seed of the split draws (default 0); the same seed and input give the same splits.
    public var seed: UInt64 = 0

    public init() {}

    /// Number of items out of `count` that `fraction` asks for (rounded to nearest).
    static func share(_ fraction: Double, of count: Int) -> Int {
        min(count, Int((fraction * Double(count)).rounded()))
    }
}

/// Random streams of the splits (the `stream` of `RandomPurpose.shuffle` keys, epoch 0).
enum SplitStream {
    static let segments: UInt32 = 0x5345_4753  // "SEGS"
    static let triples: UInt32 = 0x5452_5053  // "TRPS"
}

/// Segment indices of the three splits, each ascending.
public struct SegmentSplit: Equatable, Sendable {
    public var train: [Int]
    public var valid: [Int]
    public var test: [Int]

    /// Draws `round(validSegments · count)` validation and `round(testSegments · count)` test
    /// segments uniformly at random (a seeded permutation: its first items are validation, the
    /// next test); the rest are training.
    public init(count: Int, options: SplitOptions) {
        let order = seededPermutation(count: count, seed: options.seed, stream: SplitStream.segments)
        let validCount = SplitOptions.share(options.validSegments, of: count)
        let testCount = min(count - validCount, SplitOptions.share(options.testSegments, of: count))
        valid = order[0..<validCount].sorted()
        test = order[validCount..<(validCount + testCount)].sorted()
        train = order[(validCount + testCount)...].sorted()
    }

    /// The indices of `split`.
    public subscript(split: DataSplit) -> [Int] {
        switch split {
        case .train: return train
        case .valid: return valid
        case .test: return test
        }
    }
}

/// Triples of the three splits. Held-out triples are chosen by unordered entity pair: every
/// triple between a held-out pair (any relation, either direction) leaves the training graph,
/// so a validation or test pair has no edge at all in the training graph.
public struct TripleSplit: Equatable, Sendable {
    public var train: [Triple]
    public var valid: [Triple]
    public var test: [Triple]

    /// Visits the unordered pairs in a seeded random order and gives whole pairs to validation
    /// until it holds at least `round(validTriples · count)` triples, then to test likewise;
    /// the remaining pairs are training. Each split is sorted.
    public init(triples: [Triple], options: SplitOptions) {
        var pairIndex: [UInt64: Int] = [:]
        var pairTriples: [[Int]] = []
        for (index, triple) in triples.enumerated() {
            let low = UInt64(UInt32(bitPattern: min(triple.head, triple.tail)))
            let high = UInt64(UInt32(bitPattern: max(triple.head, triple.tail)))
            let key = low << 32 | high
            if let pair = pairIndex[key] {
                pairTriples[pair].append(index)
            } else {
                pairIndex[key] = pairTriples.count
                pairTriples.append([index])
            }
        }
        let validTarget = SplitOptions.share(options.validTriples, of: triples.count)
        let testTarget = SplitOptions.share(options.testTriples, of: triples.count)
        var train: [Triple] = [], valid: [Triple] = [], test: [Triple] = []
        for pair in seededPermutation(count: pairTriples.count, seed: options.seed, stream: SplitStream.triples) {
            let members = pairTriples[pair].map { triples[$0] }
            if valid.count < validTarget {
                valid += members
            } else if test.count < testTarget {
                test += members
            } else {
                train += members
            }
        }
        self.train = train.sorted()
        self.valid = valid.sorted()
        self.test = test.sorted()
    }
}

/// A uniformly random permutation of 0..<count (Fisher–Yates on the counter-based generator).
func seededPermutation(count: Int, seed: UInt64, epoch: UInt32 = 0, stream: UInt32) -> [Int] {
    var order = Array(0..<count)
    var random = RandomStream(RandomKey(seed: seed, epoch: epoch, purpose: .shuffle, stream: stream))
    if count > 1 {
        for i in stride(from: count - 1, to: 0, by: -1) {
            let j = random.nextInt(below: i + 1)
            order.swapAt(i, j)
        }
    }
    return order
}
