import KELMData
import KELMMemory

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
    /// `step` (epoch `step / order.stepsPerEpoch`) in the order of DESIGN §6 (`SampleOrder`);
    /// masking and link sampling keyed by (seed, epoch, sample index).
    func fill(_ batch: FusionBatch, step: Int, microStep: Int, rank: Int, order: SampleOrder) throws
    /// The fingerprint of the data's vocabulary (`VocabularyDigest`), when it has one.
    var vocabularyDigest: String? { get }
}

extension TrainingData {
    public var vocabularyDigest: String? { nil }
}
