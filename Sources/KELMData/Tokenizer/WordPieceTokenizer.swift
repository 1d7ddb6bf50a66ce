// BERT WordPiece tokenisation, uncased (DESIGN §6): the same pieces as Hugging Face's default
// `BertTokenizer` (transformers 5: backed by `tokenizers`, BertNormalizer + BertPreTokenizer +
// WordPiece) with lower-casing and accent stripping, on the same `vocab.txt`.
//
// The steps, on Unicode scalars (code points):
//  1. special tokens: every exact (case-sensitive) occurrence of `[PAD] [UNK] [CLS] [SEP] [MASK]` in
//     the raw text is a token of its own; the text between them is tokenised piece by piece;
//  2. clean: drop NUL, U+FFFD and control, format, private-use and surrogate characters (categories
//     Cc, Cf, Co, Cs except tab, LF, CR; unassigned code points stay); whitespace (space, tab, LF,
//     CR, category Zs) becomes a space;
//  3. every CJK ideograph becomes a word of its own;
//  4. split on whitespace (also U+2028/U+2029);
//  5. lower-case each code point by its full lowercase mapping (context-free: a word-final Σ becomes
//     σ), NFD, drop nonspacing marks (Mn);
//  6. every punctuation character (ASCII 33–47, 58–64, 91–96, 123–126, or category P*) becomes a
//     word of its own;
//  7. WordPiece: greedy longest-match-first, continuations spelled with `##`; a word longer than
//     100 code points, or one that cannot be covered, becomes a single `[UNK]`.
// The former pure-Python `BertTokenizer` (transformers 5: `BertTokenizerLegacy`) differs in three
// places: Python's `str.lower()` maps a word-final Σ to ς, Python drops unassigned code points, and
// Python keeps a chunk that spells a special token after cleaning or NFC (the test fixture keeps
// inputs of all three, with both answers).

import Foundation

/// A BERT WordPiece tokenizer (uncased) over a `vocab.txt`; its pieces are those of Hugging Face's
/// default `BertTokenizer` (do_lower_case=True) on the same vocabulary. Values are immutable and can be
/// shared between threads.
public struct WordPieceTokenizer: Sendable {
    /// Words longer than this many code points (after lower-casing and accent stripping) become `[UNK]`.
    public static let maxInputCharactersPerWord = 100

    /// The vocabulary.
    public let vocabulary: WordPieceVocabulary

    /// A tokenizer over `vocabulary`.
    public init(vocabulary: WordPieceVocabulary) {
        self.vocabulary = vocabulary
    }

    /// A tokenizer over the `vocab.txt` at `path`; throws `VocabularyError`.
    public init(vocabularyFile path: String) throws {
        self.init(vocabulary: try WordPieceVocabulary(contentsOfFile: path))
    }

    /// Number of tokens in the vocabulary.
    public var vocabularySize: Int { vocabulary.count }
    /// The token with id `id`, or nil if out of range.
    public func token(for id: Int32) -> String? { vocabulary.token(for: id) }
    /// The id of `token`, or nil if the vocabulary lacks it.
    public func id(for token: String) -> Int32? { vocabulary.id(for: token) }
    /// The id of a special token.
    public func id(for special: SpecialToken) -> Int32 { vocabulary.id(for: special) }
    /// `[PAD]`'s id.
    public var padID: Int32 { vocabulary.padID }
    /// `[UNK]`'s id.
    public var unknownID: Int32 { vocabulary.unknownID }
    /// `[CLS]`'s id.
    public var clsID: Int32 { vocabulary.clsID }
    /// `[SEP]`'s id.
    public var sepID: Int32 { vocabulary.sepID }
    /// `[MASK]`'s id.
    public var maskID: Int32 { vocabulary.maskID }

    /// The word pieces of `text` as token strings (`##` marks continuations), like
    /// `BertTokenizer.tokenize`.
    public func tokenize(_ text: String) -> [String] {
        encodeWithOffsets(text).pieces.map { vocabulary.tokens[Int($0.id)] }
    }

    /// The token ids of `text`, without `[CLS]`/`[SEP]`.
    public func encode(_ text: String) -> [Int32] {
        var run = Run(vocabulary: vocabulary, text: text)
        run.tokenize()
        return run.pieces.map(\.id)
    }

    /// The pieces of `text` with their code-point spans in `text` and word-start flags.
    public func encodeWithOffsets(_ text: String) -> WordPieceEncoding {
        var run = Run(vocabulary: vocabulary, text: text)
        run.tokenize()
        return WordPieceEncoding(pieces: run.pieces)
    }
}

/// One tokenisation: the text's scalars, scratch buffers, and the pieces produced so far.
private struct Run {
    let trie: TokenTrie
    let unknownID: Int32
    let specials: [(scalars: [UInt32], id: Int32)]
    let flagTable: [UInt8]
    /// The text's code points; an index into it is a code-point offset.
    let text: [UInt32]
    var pieces: [WordPiece] = []

    /// The current whitespace-delimited chunk (after cleaning) and each character's code-point offset.
    var chunk: [UInt32] = []
    var chunkSource: [Int] = []
    /// The chunk lower-cased, decomposed and stripped of accents, and the offset each character came from.
    var norm: [UInt32] = []
    var normSource: [Int] = []

    init(vocabulary: WordPieceVocabulary, text: String) {
        trie = vocabulary.trie
        unknownID = vocabulary.unknownID
        specials = vocabulary.specialScalars
        flagTable = TokenizerUnicode.tables.flags
        var scalars: [UInt32] = []
        scalars.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars { scalars.append(s.value) }
        self.text = scalars
    }

    @inline(__always)
    func flags(_ v: UInt32) -> ScalarFlags {
        v < 0x1_0000 ? ScalarFlags(rawValue: flagTable[Int(v)]) : TokenizerUnicode.computeFlags(v)
    }

    /// Step 1: split out the special tokens, tokenise the text between them.
    mutating func tokenize() {
        var segmentStart = 0, i = 0
        while i < text.count {
            if text[i] == 0x5B, let (id, length) = special(at: i) {
                basicTokenize(segmentStart..<i)
                pieces.append(WordPiece(id: id, codePoints: i..<(i + length), startsWord: true))
                i += length
                segmentStart = i
            } else {
                i += 1
            }
        }
        basicTokenize(segmentStart..<text.count)
    }

    func special(at i: Int) -> (Int32, Int)? {
        for (scalars, id) in specials where i + scalars.count <= text.count {
            var k = 0
            while k < scalars.count && text[i + k] == scalars[k] { k += 1 }
            if k == scalars.count { return (id, k) }
        }
        return nil
    }

    /// Steps 2–4 on `range` of the text.
    mutating func basicTokenize(_ range: Range<Int>) {
        for i in range {
            let v = text[i]
            let f = flags(v)
            if f.has(.removed) {
                // dropped (it belongs to no piece)
            } else if f.has(.whitespace) {
                flushChunk()
            } else if f.has(.chinese) {
                flushChunk()
                appendToChunk(v, at: i)
                flushChunk()
            } else {
                appendToChunk(v, at: i)
            }
        }
        flushChunk()
    }

    @inline(__always)
    mutating func appendToChunk(_ v: UInt32, at i: Int) {
        chunk.append(v)
        chunkSource.append(i)
    }

    /// Steps 4–7 on the current chunk.
    mutating func flushChunk() {
        guard !chunk.isEmpty else { return }
        defer {
            chunk.removeAll(keepingCapacity: true)
            chunkSource.removeAll(keepingCapacity: true)
        }
        normalizeChunk()
        var wordStart = 0
        for r in 0..<norm.count {
            let f = flags(norm[r])
            if f.has(.punctuation) || f.has(.whitespace) {
                if wordStart < r { wordPiece(wordStart..<r) }
                if f.has(.punctuation) { wordPiece(r..<(r + 1)) }
                wordStart = r + 1
            }
        }
        if wordStart < norm.count { wordPiece(wordStart..<norm.count) }
    }

    /// Step 5: lower-case (each code point's full lowercase mapping), NFD, drop Mn; into `norm`.
    mutating func normalizeChunk() {
        norm.removeAll(keepingCapacity: true)
        normSource.removeAll(keepingCapacity: true)
        var sawCombining = false
        for k in 0..<chunk.count {
            let v = chunk[k]
            let before = norm.count
            if v < 0x80 {
                norm.append((v >= 0x41 && v <= 0x5A) ? v + 0x20 : v)
            } else {
                TokenizerUnicode.appendFolded(v, to: &norm)
                sawCombining = true
            }
            for _ in before..<norm.count { normSource.append(chunkSource[k]) }
        }
        guard sawCombining else { return }
        reorderCombiningMarks()
        // Drop nonspacing marks.
        var w = 0
        for r in 0..<norm.count {
            if flags(norm[r]).has(.nonspacingMark) { continue }
            norm[w] = norm[r]
            normSource[w] = normSource[r]
            w += 1
        }
        norm.removeLast(norm.count - w)
        normSource.removeLast(normSource.count - w)
    }

    /// The canonical ordering of NFD: a stable sort by combining class of every run of scalars
    /// whose class is not 0.
    mutating func reorderCombiningMarks() {
        var r = 0
        while r < norm.count {
            guard flags(norm[r]).has(.combining) else { r += 1; continue }
            var end = r + 1
            while end < norm.count && flags(norm[end]).has(.combining) { end += 1 }
            if end - r > 1 {
                // Insertion sort: runs are short.
                for a in (r + 1)..<end {
                    var b = a
                    let cls = TokenizerUnicode.combiningClass(norm[a])
                    while b > r && TokenizerUnicode.combiningClass(norm[b - 1]) > cls {
                        norm.swapAt(b, b - 1)
                        normSource.swapAt(b, b - 1)
                        b -= 1
                    }
                }
            }
            r = end
        }
    }

    /// Step 7 on the normalised word `norm[word]`.
    mutating func wordPiece(_ word: Range<Int>) {
        guard word.count <= WordPieceTokenizer.maxInputCharactersPerWord else {
            pieces.append(WordPiece(id: unknownID, codePoints: span(word), startsWord: true))
            return
        }
        let firstPiece = pieces.count
        var start = word.lowerBound
        while start < word.upperBound {
            var node = start == word.lowerBound ? TokenTrie.wordRoot : TokenTrie.continuationRoot
            var bestEnd = -1
            var bestID: Int32 = -1
            var i = start
            while i < word.upperBound, let next = trie.child(node, norm[i]) {
                node = next
                i += 1
                let id = trie.terminal[Int(node)]
                if id >= 0 {
                    bestEnd = i
                    bestID = id
                }
            }
            guard bestEnd > start else {
                pieces.removeLast(pieces.count - firstPiece)
                pieces.append(WordPiece(id: unknownID, codePoints: span(word), startsWord: true))
                return
            }
            pieces.append(WordPiece(id: bestID, codePoints: span(start..<bestEnd), startsWord: start == word.lowerBound))
            start = bestEnd
        }
    }

    /// The source code points of `norm[range]`.
    func span(_ range: Range<Int>) -> Range<Int> {
        var lo = normSource[range.lowerBound], hi = lo
        for r in range {
            lo = min(lo, normSource[r])
            hi = max(hi, normSource[r])
        }
        return lo..<(hi + 1)
    }
}
