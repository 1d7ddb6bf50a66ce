/// The tokenised segments of one split, in the dataset file's flat layout.
public struct SegmentTable: Equatable, Sendable {
    /// [S + 1] segment i's tokens are `tokens[tokenPointer[i] ..< tokenPointer[i + 1]]`.
    public var tokenPointer: [Int64] = [0]
    /// `[CLS] text₁ [SEP] text₂ [SEP] …` token ids of all segments, concatenated.
    public var tokens: [Int32] = []
    /// 1 where a word starts (special tokens included), 0 on `##` continuations; like `tokens`.
    public var wordStarts: [Int32] = []
    /// [S + 1] segment i's mentions are rows `mentionPointer[i] ..< mentionPointer[i + 1]` of `mentions`.
    public var mentionPointer: [Int64] = [0]
    /// [M, 3] flat: token start, token end (exclusive), entity; positions count `[CLS]` as 0.
    public var mentions: [Int32] = []
    /// [S + 1] segment i's source entities are `sourceEntities[sourcePointer[i] ..< sourcePointer[i + 1]]`.
    public var sourcePointer: [Int64] = [0]
    /// The distinct entities each segment's texts describe, in text order (possibly none).
    public var sourceEntities: [Int32] = []
    /// [S + 1] segment i's texts are rows `textPointer[i] ..< textPointer[i + 1]` of `texts`.
    public var textPointer: [Int64] = [0]
    /// [n, 3] flat: the corpus index of each packed text (or window) and its piece range
    /// (first piece, end piece exclusive) within that text's own pieces.
    public var texts: [Int64] = []

    public init() {}

    /// Number of segments.
    public var count: Int { tokenPointer.count - 1 }

    /// Appends one segment.
    mutating func append(_ segment: PackedSegment) {
        append(tokens: segment.tokens, wordStarts: segment.wordStarts, mentions: segment.mentions,
               sourceEntities: segment.sources, texts: segment.texts)
    }

    /// Appends one segment.
    public mutating func append(tokens newTokens: [Int32], wordStarts newStarts: [Int32], mentions newMentions: [Int32],
                                sourceEntities sources: [Int32], texts newTexts: [PackedText]) {
        tokens += newTokens
        wordStarts += newStarts
        tokenPointer.append(Int64(tokens.count))
        mentions += newMentions
        mentionPointer.append(Int64(mentions.count / 3))
        sourceEntities += sources
        sourcePointer.append(Int64(sourceEntities.count))
        for text in newTexts {
            texts += [Int64(text.corpusIndex), Int64(text.pieces.lowerBound), Int64(text.pieces.upperBound)]
        }
        textPointer.append(Int64(texts.count / 3))
    }

    /// Segment `i` as a record.
    public func record(_ i: Int) -> SegmentRecord {
        let tokenRange = Int(tokenPointer[i])..<Int(tokenPointer[i + 1])
        let mentionRange = (3 * Int(mentionPointer[i]))..<(3 * Int(mentionPointer[i + 1]))
        return SegmentRecord(tokens: Array(tokens[tokenRange]), wordStarts: Array(wordStarts[tokenRange]),
                             mentions: Array(mentions[mentionRange]),
                             sourceEntities: Array(sourceEntities[Int(sourcePointer[i])..<Int(sourcePointer[i + 1])]))
    }

    /// The texts (or windows) segment `i` holds, in order.
    public func packedTexts(_ i: Int) -> [PackedText] {
        (Int(textPointer[i])..<Int(textPointer[i + 1])).map {
            PackedText(corpusIndex: Int(texts[3 * $0]), pieces: Int(texts[3 * $0 + 1])..<Int(texts[3 * $0 + 2]))
        }
    }
}

/// Everything `prepare` writes to the dataset file, in memory.
public struct PreparedDataset: Sendable {
    /// Where the data came from: `tsv` or `wordnet`.
    public var source: String
    /// How the texts were put into segments.
    public var packing: PackingMode
    /// What packing did (texts, windows, dropped mentions).
    public var packingStatistics: PackingStatistics
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
    /// [E + 1] entity e's anchor is `descriptionAnchorTokenIDs[descriptionAnchorPointer[e] ..< descriptionAnchorPointer[e + 1]]`:
    /// the pieces of `name :` for a description that holds none of the entity's names (DESIGN §4,
    /// `memory.anchor: name` encodes `[CLS] name : description [SEP]`), empty for the others.
    public var descriptionAnchorPointer: [Int64]
    public var descriptionAnchorTokenIDs: [Int32]
    /// The segments of each split.
    public var segments: [DataSplit: SegmentTable]
}
