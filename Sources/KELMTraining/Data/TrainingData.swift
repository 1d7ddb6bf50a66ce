import KELMMemory

/// The sample order of DESIGN §6: epoch e uses permutation π_e(seed) of the training segments;
/// the last partial global batch of an epoch is dropped; global step g, micro-step a, rank r
/// takes positions g·B·N·A + a·B·N + r·B + i (i < B) of its epoch's permutation.
public struct SampleOrder: Equatable, Sendable {
    public var segments: Int
    public var microBatch: Int
    public var worldSize: Int
    public var accumulation: Int

    public init(segments: Int, microBatch: Int, worldSize: Int, accumulation: Int) {
        self.segments = segments
        self.microBatch = microBatch
        self.worldSize = worldSize
        self.accumulation = accumulation
    }

    public var globalBatch: Int { microBatch * worldSize * accumulation }
    public var stepsPerEpoch: Int { segments / globalBatch }

    /// (epoch, position in the epoch's permutation) of sample i of (rank, micro-step) at global step g.
    public func position(step g: Int, microStep a: Int, rank r: Int, item i: Int) -> (epoch: Int, position: Int) {
        let epoch = g / stepsPerEpoch, inEpoch = g % stepsPerEpoch
        return (epoch, inEpoch * globalBatch + a * microBatch * worldSize + r * microBatch + i)
    }

    /// The global sample index of a position: samples are numbered across epochs.
    public func globalIndex(epoch: Int, position: Int) -> UInt64 {
        UInt64(epoch) * UInt64(stepsPerEpoch * globalBatch) + UInt64(position)
    }
}

/// Training data as the trainer sees it: the KG's size, the training segments in the order of
/// DESIGN §6, and the entity descriptions for the memory.
public protocol TrainingData: DescriptionSource {
    var numRelations: Int { get }
    var segmentCount: Int { get }
    /// Largest nodes and edges a segment's subgraph can have (for allocating batches).
    var nodesPerSegment: Int { get }
    var edgesPerSegment: Int { get }
    /// Entities that can appear in a training subgraph (`memory.scope: reachable`), ascending.
    var reachableEntities: [Int] { get }
    /// Fills `batch` with the micro-batch of `rank`'s micro-step `microStep` at global step
    /// `step`; masking and link sampling keyed by (seed, epoch, global sample index).
    func fill(_ batch: FusionBatch, step: Int, microStep: Int, rank: Int, order: SampleOrder) throws
}
