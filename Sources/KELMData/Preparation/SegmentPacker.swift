/// How `prepare` puts the corpus's texts into segments (DESIGN §6, `prepare --pack`).
public enum PackingMode: String, CaseIterable, Sendable {
    /// Texts packed greedily, in corpus order, into `[CLS] text₁ [SEP] text₂ [SEP] … [SEP]` of at
    /// most T tokens (RoBERTa's FULL-SENTENCES): segments fill T.
    case texts
    /// One text (or one window of a long text) per segment.
    case none
}

/// One corpus text, tokenised (without `[CLS]`/`[SEP]`): its word pieces, their word-start
/// flags, its mentions as piece ranges, and the entity it describes.
struct EncodedText: Equatable {
    /// Piece ids in text order.
    var ids: [Int32]
    /// 1 where a piece starts a word, 0 on `##` continuations.
    var wordStarts: [Int32]
    /// Mentions as piece ranges of this text (start, end exclusive, entity), in text order.
    var mentions: [(start: Int32, end: Int32, entity: Int32)]
    /// The entity the text describes, or −1.
    var source: Int32

    static func == (a: EncodedText, b: EncodedText) -> Bool {
        a.ids == b.ids && a.wordStarts == b.wordStarts && a.source == b.source
            && a.mentions.map { [$0.start, $0.end, $0.entity] } == b.mentions.map { [$0.start, $0.end, $0.entity] }
    }
}

/// A piece range of one corpus text that went into a segment whole: the text itself, or one
/// window of a text longer than T − 2 pieces.
public struct PackedText: Equatable, Sendable {
    /// The text's position in the corpus (line order of the input; WordNet: gloss order).
    public var corpusIndex: Int
    /// Its pieces `pieces` (indices into the text's own word pieces, end exclusive).
    public var pieces: Range<Int>

    public init(corpusIndex: Int, pieces: Range<Int>) {
        self.corpusIndex = corpusIndex
        self.pieces = pieces
    }
}

/// One segment as `prepare` writes it: `[CLS] text₁ [SEP] text₂ [SEP] …`, its word starts,
/// mentions (token positions, `[CLS]` = 0), source entities and where its texts came from.
struct PackedSegment: Equatable {
    var tokens: [Int32]
    var wordStarts: [Int32]
    /// Flat (token start, token end exclusive, entity).
    var mentions: [Int32]
    /// The distinct source entities of its texts, in text order.
    var sources: [Int32]
    /// The texts (or windows) it holds, in order.
    var texts: [PackedText]
}

/// What packing did to the corpus (for `prepare`'s summary).
public struct PackingStatistics: Equatable, Sendable {
    /// Texts read (non-blank lines, JSONL objects, WordNet glosses' parts).
    public var texts = 0
    /// Texts that tokenised to no piece at all (only dropped characters): they contribute nothing.
    public var emptyTexts = 0
    /// Texts longer than T − 2 pieces, cut into windows.
    public var windowedTexts = 0
    /// Windows those texts were cut into.
    public var windows = 0
    /// Mentions dropped because they cross a window boundary.
    public var droppedMentions = 0
    /// Word pieces of the corpus (all of them land in exactly one segment).
    public var pieces = 0

    public init() {}
}

/// Packs tokenised texts into segments (DESIGN §6).
///
/// - `texts`: greedily, in corpus order: a text joins the current segment when its pieces and
///   its `[SEP]` fit in the room left (at most T tokens with the leading `[CLS]`), else it starts
///   the next segment.
/// - `none`: one text per segment.
/// - Either way, a text longer than T − 2 pieces is cut into consecutive windows of at most
///   T − 2 pieces at word boundaries (a single word longer than a window is cut inside it), each
///   window its own segment `[CLS] window [SEP]`: no piece is lost or repeated. A mention that
///   crosses a window boundary is dropped.
/// - A text with no piece is skipped. `[SEP]` starts a word (as every special token does) and is
///   never inside a mention.
enum SegmentPacker {
    /// The windows of a text of `wordStarts.count` pieces, each at most `width` pieces, cut at
    /// word starts: one range `0..<n` when the text fits.
    static func windows(wordStarts: [Int32], width: Int) -> [Range<Int>] {
        precondition(width >= 1, "SegmentPacker: a window holds at least one piece")
        let n = wordStarts.count
        var result: [Range<Int>] = []
        var start = 0
        while n - start > width {
            var cut = start + width  // the first piece of the next window
            while cut > start && wordStarts[cut] == 0 { cut -= 1 }
            if cut == start { cut = start + width }  // one word longer than a window
            result.append(start..<cut)
            start = cut
        }
        if start < n || result.isEmpty { result.append(start..<n) }
        return result
    }

    /// Packs `texts` (in corpus order) into segments of at most `maxTokens` tokens.
    static func pack(_ texts: [EncodedText], maxTokens: Int, mode: PackingMode, cls: Int32, sep: Int32)
        -> (segments: [PackedSegment], statistics: PackingStatistics) {
        precondition(maxTokens >= 3, "SegmentPacker: T must leave room for [CLS], one piece and [SEP]")
        let width = maxTokens - 2
        var statistics = PackingStatistics()
        var segments: [PackedSegment] = []
        var current: PackedSegment? = nil

        func start() -> PackedSegment {
            var segment = PackedSegment(tokens: [cls], wordStarts: [1], mentions: [], sources: [], texts: [])
            segment.tokens.reserveCapacity(maxTokens)
            segment.wordStarts.reserveCapacity(maxTokens)
            return segment
        }
        func add(_ text: EncodedText, index: Int, pieces: Range<Int>, to segment: inout PackedSegment) {
            let offset = Int32(segment.tokens.count - pieces.lowerBound)
            segment.tokens += text.ids[pieces]
            segment.wordStarts += text.wordStarts[pieces]
            segment.tokens.append(sep)
            segment.wordStarts.append(1)
            for mention in text.mentions {
                if Int(mention.start) >= pieces.lowerBound && Int(mention.end) <= pieces.upperBound {
                    segment.mentions += [mention.start + offset, mention.end + offset, mention.entity]
                } else if Int(mention.start) >= pieces.lowerBound && Int(mention.start) < pieces.upperBound {
                    statistics.droppedMentions += 1  // starts in this window and crosses its end
                }
            }
            if text.source >= 0 && !segment.sources.contains(text.source) { segment.sources.append(text.source) }
            segment.texts.append(PackedText(corpusIndex: index, pieces: pieces))
        }

        for (index, text) in texts.enumerated() {
            statistics.texts += 1
            let n = text.ids.count
            statistics.pieces += n
            guard n > 0 else {
                statistics.emptyTexts += 1
                continue
            }
            if n > width {
                if let open = current { segments.append(open); current = nil }
                let ranges = windows(wordStarts: text.wordStarts, width: width)
                statistics.windowedTexts += 1
                statistics.windows += ranges.count
                for range in ranges {
                    var segment = start()
                    add(text, index: index, pieces: range, to: &segment)
                    segments.append(segment)
                }
                continue
            }
            if mode == .texts, var open = current, open.tokens.count + n + 1 <= maxTokens {
                current = nil  // keep `open` uniquely referenced while it grows
                add(text, index: index, pieces: 0..<n, to: &open)
                current = open
                continue
            }
            if let open = current { segments.append(open) }
            var segment = start()
            add(text, index: index, pieces: 0..<n, to: &segment)
            if mode == .texts {
                current = segment
            } else {
                segments.append(segment)
            }
        }
        if let open = current { segments.append(open) }
        return (segments, statistics)
    }
}
