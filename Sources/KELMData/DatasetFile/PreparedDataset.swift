/// The tokenised segments of one split, in the dataset file's flat layout.
public struct SegmentTable: Equatable, Sendable {
    /// [S + 1] segment i's tokens are `tokens[tokenPointer[i] ..< tokenPointer[i + 1]]`.
    public var tokenPointer: [Int64] = [0]
    /// `[CLS] … [SEP]` token ids of all segments, concatenated.
    public var tokens: [Int32] = []
    /// 1 where a word starts (special tokens included), 0 on `##` continuations; like `tokens`.
    public var wordStarts: [Int32] = []
    /// [S + 1] segment i's mentions are rows `mentionPointer[i] ..< mentionPointer[i + 1]` of `mentions`.
    public var mentionPointer: [Int64] = [0]
    /// [M, 3] flat: token start, token end (exclusive), entity; positions count `[CLS]` as 0.
    public var mentions: [Int32] = []
    /// [S] the entity each segment describes, or −1.
    public var sourceEntity: [Int32] = []
    /// [S] the segment's position in the corpus (line order of the input).
    public var corpusIndex: [Int64] = []

    public init() {}

    /// Number of segments.
    public var count: Int { sourceEntity.count }

    /// Appends one segment.
    public mutating func append(tokens newTokens: [Int32], wordStarts newStarts: [Int32], mentions newMentions: [Int32],
                                sourceEntity source: Int32, corpusIndex index: Int) {
        tokens += newTokens
        wordStarts += newStarts
        tokenPointer.append(Int64(tokens.count))
        mentions += newMentions
        mentionPointer.append(Int64(mentions.count / 3))
        sourceEntity.append(source)
        corpusIndex.append(Int64(index))
    }

    /// Segment `i` as a record.
    public func record(_ i: Int) -> SegmentRecord {
        let tokenRange = Int(tokenPointer[i])..<Int(tokenPointer[i + 1])
        let mentionRange = (3 * Int(mentionPointer[i]))..<(3 * Int(mentionPointer[i + 1]))
        return SegmentRecord(tokens: Array(tokens[tokenRange]), wordStarts: Array(wordStarts[tokenRange]),
                             mentions: Array(mentions[mentionRange]), sourceEntity: sourceEntity[i])
    }
}

/// Everything `prepare` writes to the dataset file, in memory.
public struct PreparedDataset: Sendable {
    /// Where the data came from: `tsv` or `wordnet`.
    public var source: String
    /// The vocabulary (token strings by id).
    public var vocabulary: [String]
    /// T: tokens per segment at most, `[CLS]`/`[SEP]` included.
    public var maxTokens: Int
    /// Tokens per description at most, `[CLS]`/`[SEP]` included.
    public var descriptionTokens: Int
    /// The split fractions and seed used.
    public var splitOptions: SplitOptions
    /// Entities, categories and relation names (its `triples` are all triples, before the split).
    public var knowledgeBase: KnowledgeBase
    /// The triples of each split.
    public var triples: TripleSplit
    /// The training graph, both directions.
    public var trainingGraph: Adjacency
    /// [E + 1] entity e's description tokens are `descriptionTokens[descriptionPointer[e] ..< descriptionPointer[e + 1]]`.
    public var descriptionPointer: [Int64]
    /// `[CLS] description [SEP]` of every entity, concatenated.
    public var descriptionTokenIDs: [Int32]
    /// [E, 2] flat: (s, o), the first and last token of the first occurrence of one of the
    /// entity's surface forms in its description, else (1, 1).
    public var descriptionSpans: [Int32]
    /// The segments of each split.
    public var segments: [DataSplit: SegmentTable]
}
