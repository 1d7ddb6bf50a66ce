/// One word piece of a tokenised text and where it came from.
public struct WordPiece: Equatable, Hashable, Sendable {
    /// The piece's token id.
    public var id: Int32
    /// Code-point offsets (Unicode scalars, end exclusive) into the original text: from the first
    /// to the last code point the piece's characters were made from (an `[UNK]` spans its word, a
    /// special token its spelling). Characters that tokenisation drops (whitespace, control and
    /// format characters, stripped accents) belong to no piece, so the pieces of a word need not
    /// tile it. These are the spans of the `offset_mapping` of Hugging Face's default (`tokenizers`)
    /// `BertTokenizer` (checked on the test fixture). Ranges are in text order; pieces made from one single
    /// code point (e.g. the jamo of one Hangul syllable) share its range.
    public var codePoints: Range<Int>
    /// True if the piece starts a word, false for a `##` continuation (whole-word masking treats a
    /// word start plus its continuations as one word). Special tokens and `[UNK]` start words.
    public var startsWord: Bool

    /// Creates a piece.
    public init(id: Int32, codePoints: Range<Int>, startsWord: Bool) {
        self.id = id
        self.codePoints = codePoints
        self.startsWord = startsWord
    }
}

/// The word pieces of one text (without `[CLS]`/`[SEP]`), with their origins.
public struct WordPieceEncoding: Equatable, Sendable {
    /// The pieces in text order.
    public var pieces: [WordPiece]

    /// Creates an encoding from pieces in text order.
    public init(pieces: [WordPiece]) {
        self.pieces = pieces
    }

    /// The token ids.
    public var ids: [Int32] { pieces.map(\.id) }
    /// Per piece: true if it starts a word, false for a `##` continuation.
    public var startsWord: [Bool] { pieces.map(\.startsWord) }
    /// Number of pieces.
    public var count: Int { pieces.count }

    /// The indices of the pieces that overlap the code points `span` of the original text (e.g. an
    /// entity mention, DESIGN §6), or nil if none does (the span holds only whitespace or dropped
    /// characters, or is empty). A mention that cuts a word in the middle gets the pieces it touches.
    public func pieceRange(overlapping span: Range<Int>) -> Range<Int>? {
        guard !span.isEmpty else { return nil }
        // First piece ending after the span's start (ranges are in order, so ends are non-decreasing).
        var lo = 0, hi = pieces.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if pieces[mid].codePoints.upperBound <= span.lowerBound { lo = mid + 1 } else { hi = mid }
        }
        var end = lo
        while end < pieces.count && pieces[end].codePoints.lowerBound < span.upperBound { end += 1 }
        return lo < end ? lo..<end : nil
    }
}
