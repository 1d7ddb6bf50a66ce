import KELMNumerics

/// Where a loader stands: the micro-batch it produces next.
public struct LoaderCursor: Equatable, Codable, Sendable, CustomStringConvertible {
    /// Epoch e.
    public var epoch: Int
    /// Global step g within the epoch.
    public var step: Int
    /// Accumulation micro-step a within the step.
    public var microStep: Int

    public init(epoch: Int = 0, step: Int = 0, microStep: Int = 0) {
        self.epoch = epoch
        self.step = step
        self.microStep = microStep
    }

    /// `epoch e step g micro-step a`.
    public var description: String { "epoch \(epoch) step \(step) micro-step \(microStep)" }
}

/// The sample order of DESIGN §6: epoch e uses the permutation π_e(seed) of the segments;
/// with N ranks, micro-batch B and A accumulation steps, global step g micro-step a rank r takes
/// samples π_e[g·B·N·A + a·B·N + r·B + i], i < B; the last partial global batch of an epoch is
/// dropped (unless `dropLast` is false: then the last step is partial and a rank may get fewer
/// than B samples, or none).
public struct SampleOrder: Equatable, Sendable {
    /// The random stream (of purpose `.shuffle`) of the epoch permutations.
    public static let permutationStream: UInt32 = 0x4550_4F43  // "EPOC"

    /// Number of segments S.
    public let sampleCount: Int
    /// Micro-batch B.
    public let microBatch: Int
    /// Ranks N.
    public let worldSize: Int
    /// Accumulation steps A.
    public let accumulation: Int
    /// Seed of the permutations.
    public let seed: UInt64
    /// Whether the last partial global batch of an epoch is dropped.
    public let dropLast: Bool

    public init(sampleCount: Int, microBatch: Int, worldSize: Int, accumulation: Int, seed: UInt64, dropLast: Bool = true) {
        precondition(sampleCount >= 0 && microBatch >= 1 && worldSize >= 1 && accumulation >= 1,
                     "SampleOrder: counts must be positive")
        self.sampleCount = sampleCount
        self.microBatch = microBatch
        self.worldSize = worldSize
        self.accumulation = accumulation
        self.seed = seed
        self.dropLast = dropLast
    }

    /// B·N·A samples per global step.
    public var globalBatch: Int { microBatch * worldSize * accumulation }

    /// Global steps per epoch: ⌊S / (B·N·A)⌋ (⌈…⌉ when the last partial batch is kept).
    public var stepsPerEpoch: Int {
        dropLast ? sampleCount / globalBatch : (sampleCount + globalBatch - 1) / globalBatch
    }

    /// The position in π_e of item i of rank r's micro-batch at (step, micro-step).
    public func position(step: Int, microStep: Int, rank: Int, item: Int) -> Int {
        step * globalBatch + microStep * microBatch * worldSize + rank * microBatch + item
    }

    /// The positions in π_e of rank r's micro-batch at (step, micro-step): B of them, fewer
    /// (possibly none) in the partial last step when `dropLast` is false.
    public func positions(step: Int, microStep: Int, rank: Int) -> Range<Int> {
        let first = position(step: step, microStep: microStep, rank: rank, item: 0)
        return min(first, sampleCount)..<min(first + microBatch, sampleCount)
    }

    /// π_e: writes the permutation of epoch `epoch` into `permutation` (resized to S).
    public func permutation(epoch: Int, into permutation: inout [Int32]) {
        if permutation.count != sampleCount { permutation = [Int32](repeating: 0, count: sampleCount) }
        for i in 0..<sampleCount { permutation[i] = Int32(i) }
        var random = RandomStream(RandomKey(seed: seed, epoch: UInt32(truncatingIfNeeded: epoch), purpose: .shuffle,
                                            stream: Self.permutationStream))
        if sampleCount > 1 {
            for i in stride(from: sampleCount - 1, to: 0, by: -1) {
                permutation.swapAt(i, random.nextInt(below: i + 1))
            }
        }
    }

    /// π_e as a new array.
    public func permutation(epoch: Int) -> [Int32] {
        var permutation: [Int32] = []
        self.permutation(epoch: epoch, into: &permutation)
        return permutation
    }

    /// The cursor after `cursor`.
    public func advance(_ cursor: LoaderCursor) -> LoaderCursor {
        var next = cursor
        next.microStep += 1
        if next.microStep == accumulation {
            next.microStep = 0
            next.step += 1
            if next.step >= stepsPerEpoch {
                next.step = 0
                next.epoch += 1
            }
        }
        return next
    }
}
