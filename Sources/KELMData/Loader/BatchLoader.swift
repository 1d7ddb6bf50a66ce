/// Options of a `BatchLoader`.
public struct LoaderOptions: Equatable, Sendable {
    /// Run seed (`data.seed`): keys the epoch permutations, masking and link sampling.
    public var seed: UInt64 = 0
    /// B: segments per micro-batch (`train.micro_batch`).
    public var microBatch = 8
    /// A: accumulation steps (`train.accumulation`).
    public var accumulation = 1
    /// r: this rank.
    public var rank = 0
    /// N: number of ranks.
    public var worldSize = 1
    /// J: nodes per segment at most, interaction node included (`model.max_nodes`).
    public var maxNodes = 64
    /// T of the batch (`model.max_tokens`); nil: the dataset's T. Must be at least the dataset's T.
    public var maxTokens: Int?
    /// The split the samples come from.
    public var split: DataSplit = .train
    /// Whether the last partial global batch of an epoch is dropped (training: yes).
    public var dropLast = true

    public init() {}
}

/// Produces one rank's micro-batches in the order of DESIGN §6: epoch e uses the permutation
/// π_e(seed) of the split's segments; global step g micro-step a rank r takes samples
/// π_e[g·B·N·A + a·B·N + r·B + i], i < B. A rank reads only its own segments' rows. Masking and
/// link sampling are keyed by (seed, epoch, sample index, purpose), the sample index being the
/// segment's index in the split, so a sample comes out the same whatever N is, and resuming
/// needs only the cursor.
///
/// ```swift
/// let data = try DatasetFile(path: "data/wordnet")
/// var options = LoaderOptions()
/// options.rank = rank; options.worldSize = size
/// let loader = try BatchLoader(dataset: data, options: options, cursor: checkpointCursor)
/// let batch = try loader.next()   // refilled in place every call
/// ```
public final class BatchLoader {
    /// The dataset.
    public let dataset: DatasetFile
    /// The options.
    public let options: LoaderOptions
    /// The sample order.
    public let order: SampleOrder
    /// The batch, refilled in place by `next()`.
    public let batch: TrainingBatch
    /// The micro-batch `next()` produces next.
    public private(set) var cursor: LoaderCursor

    private let assembler: BatchAssembler
    private var permutation: [Int32] = []
    private var permutationEpoch = -1

    /// A loader at `cursor` (default: the start of epoch 0).
    public init(dataset: DatasetFile, options: LoaderOptions, cursor: LoaderCursor = LoaderCursor()) throws {
        let tokens = options.maxTokens ?? dataset.maxTokens
        guard options.microBatch >= 1, options.accumulation >= 1, options.worldSize >= 1,
              options.rank >= 0, options.rank < options.worldSize else {
            throw DataError(.invalidArgument, file: dataset.path, field: "loader options",
                            "expected B ≥ 1, A ≥ 1, N ≥ 1 and 0 ≤ rank < N, found B \(options.microBatch), A \(options.accumulation), N \(options.worldSize), rank \(options.rank)")
        }
        guard tokens >= dataset.maxTokens else {
            throw DataError(.invalidArgument, file: dataset.path, field: "max_tokens",
                            "the batch's T (\(tokens)) is smaller than the dataset's T (\(dataset.maxTokens)); prepare the data again with --max-tokens \(tokens)")
        }
        guard options.maxNodes >= 1 else {
            throw DataError(.invalidArgument, file: dataset.path, field: "max_nodes", "expected J ≥ 1, found \(options.maxNodes)")
        }
        self.dataset = dataset
        self.options = options
        order = SampleOrder(sampleCount: dataset.segmentCount(options.split), microBatch: options.microBatch,
                            worldSize: options.worldSize, accumulation: options.accumulation, seed: options.seed,
                            dropLast: options.dropLast)
        guard order.stepsPerEpoch > 0 else {
            throw DataError(.invalidArgument, file: dataset.path, field: "/segments/\(options.split.rawValue)",
                            "the split has \(order.sampleCount) segments, fewer than one global batch of B·N·A = \(order.globalBatch)")
        }
        guard cursor.epoch >= 0, cursor.step >= 0, cursor.step < order.stepsPerEpoch,
              cursor.microStep >= 0, cursor.microStep < options.accumulation else {
            throw DataError(.invalidArgument, file: dataset.path, field: "cursor",
                            "\(cursor) is outside the epoch (\(order.stepsPerEpoch) steps of \(options.accumulation) micro-steps)")
        }
        self.cursor = cursor
        batch = TrainingBatch(segments: options.microBatch, tokens: tokens, maxNodes: options.maxNodes,
                              relationCount: dataset.relationCount)
        assembler = BatchAssembler(graph: dataset.trainingGraph, maxNodes: options.maxNodes,
                                   vocabularySize: dataset.vocabularySize, specialTokens: dataset.specialTokens,
                                   seed: options.seed)
    }

    /// Global steps per epoch.
    public var stepsPerEpoch: Int { order.stepsPerEpoch }

    /// Fills `batch` with this rank's micro-batch at `cursor`, then advances the cursor.
    @discardableResult
    public func next() throws -> TrainingBatch {
        if permutationEpoch != cursor.epoch {
            order.permutation(epoch: cursor.epoch, into: &permutation)
            permutationEpoch = cursor.epoch
        }
        assembler.begin(batch)
        for position in order.positions(step: cursor.step, microStep: cursor.microStep, rank: options.rank) {
            let sample = Int(permutation[position])
            let record = try dataset.segment(sample, split: options.split)
            assembler.append(record, sample: sample, epoch: cursor.epoch, to: batch)
        }
        cursor = order.advance(cursor)
        return batch
    }
}
