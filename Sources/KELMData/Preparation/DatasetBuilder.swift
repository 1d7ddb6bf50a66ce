import Foundation

/// Options of `prepare` shared by all sources.
public struct PrepareOptions: Equatable, Sendable {
    /// T (`--max-tokens`, default 128): tokens per segment at most, `[CLS]` and every `[SEP]`
    /// included; a text longer than T − 2 pieces is cut into windows.
    public var maxTokens = 128
    /// How texts are put into segments (`--pack`, default `texts`).
    public var packing = PackingMode.texts
    /// `--description-tokens` (default 64): descriptions are cut to this many tokens with
    /// `[CLS]`/`[SEP]`.
    public var descriptionTokens = 64
    /// Held-out split fractions and seed.
    public var splits = SplitOptions()
    /// J used for the subgraph statistics of the summary (default 64).
    public var summaryMaxNodes = 64

    public init() {}

    /// Checks the values; `field` names are the command-line option names.
    func validate() throws {
        guard maxTokens >= 3 else {
            throw DataError(.invalidArgument, file: "options", field: "--max-tokens", "expected at least 3, found \(maxTokens)")
        }
        guard descriptionTokens >= 3 else {
            throw DataError(.invalidArgument, file: "options", field: "--description-tokens",
                            "expected at least 3, found \(descriptionTokens)")
        }
        guard summaryMaxNodes >= 1 else {
            throw DataError(.invalidArgument, file: "options", field: "--max-nodes", "expected at least 1, found \(summaryMaxNodes)")
        }
        let fractions = [("--valid-segments", splits.validSegments), ("--test-segments", splits.testSegments),
                         ("--valid-triples", splits.validTriples), ("--test-triples", splits.testTriples)]
        for (name, value) in fractions where !(value >= 0 && value < 1) {
            throw DataError(.invalidArgument, file: "options", field: name, "expected a fraction in [0, 1), found \(value)")
        }
        guard splits.validSegments + splits.testSegments < 1 else {
            throw DataError(.invalidArgument, file: "options", field: "--valid-segments",
                            "the validation and test fractions together must leave training segments")
        }
    }
}

/// Loads a vocabulary for `prepare`, reporting problems as `DataError`s that name the file.
public func loadTokenizer(vocabularyFile path: String) throws -> WordPieceTokenizer {
    do {
        return try WordPieceTokenizer(vocabularyFile: path)
    } catch let error as VocabularyError {
        switch error {
        case .unreadable(_, let reason):
            throw DataError(.missingFile, file: path, "vocabulary file (vocab.txt) cannot be read: \(reason)")
        case .invalidUTF8(_, let line):
            throw DataError(.invalidUTF8, file: path, line: line, "invalid UTF-8; the vocabulary must be UTF-8 text")
        case .duplicateToken(_, let token, let line, let firstLine):
            throw DataError(.duplicate, file: path, line: line,
                            "token \(String(reflecting: token)) already on line \(firstLine); expected one token per id")
        case .missingSpecialTokens(_, let missing):
            throw DataError(.missingSpecialToken, file: path,
                            "the vocabulary lacks \(missing.joined(separator: " ")); expected all of [PAD] [UNK] [CLS] [SEP] [MASK]")
        case .tooManyTokens(_, let count):
            throw DataError(.malformed, file: path, "\(count) tokens; expected fewer than 2^31")
        }
    }
}

/// Turns a knowledge base and a corpus into a `PreparedDataset`: tokenises the texts, links
/// entities where the corpus gave no mentions, maps mention spans to word pieces, packs the texts
/// into segments (`SegmentPacker`, DESIGN §6), tokenises the descriptions with their (s, o)
/// spans, splits segments and triples, and builds the training graph.
public enum DatasetBuilder {
    /// Builds the dataset of `source` (`"tsv"` or `"wordnet"`).
    public static func build(knowledgeBase: KnowledgeBase, corpus: [CorpusSegment], tokenizer: WordPieceTokenizer,
                             options: PrepareOptions, source: String, corpusFile: String = "corpus") throws -> PreparedDataset {
        try options.validate()
        guard !corpus.isEmpty else {
            throw DataError(.emptyCorpus, file: corpusFile, "expected at least one text segment, found none")
        }
        let linker = EntityLinker(entities: knowledgeBase.entities, preference: knowledgeBase.linkPreference)
        let special = SpecialTokenIDs(pad: tokenizer.padID, unknown: tokenizer.unknownID, cls: tokenizer.clsID,
                                      sep: tokenizer.sepID, mask: tokenizer.maskID)

        // Texts, tokenised (in parallel: the tokenizer and linker are read-only values), then
        // packed into segments in corpus order.
        let encoded = concurrentMap(corpus) { text in encodeText(text, tokenizer: tokenizer, linker: linker) }
        let (packed, statistics) = SegmentPacker.pack(encoded, maxTokens: options.maxTokens, mode: options.packing,
                                                      cls: special.cls, sep: special.sep)
        guard !packed.isEmpty else {
            throw DataError(.emptyCorpus, file: corpusFile, "expected at least one text with a word piece, found none")
        }
        let split = SegmentSplit(count: packed.count, options: options.splits)
        var segments: [DataSplit: SegmentTable] = [:]
        for part in DataSplit.allCases {
            var table = SegmentTable()
            for index in split[part] { table.append(packed[index]) }
            segments[part] = table
        }

        // Descriptions.
        let descriptions = concurrentMap(Array(knowledgeBase.entities.indices)) { entity in
            encodeDescription(entity: Int32(entity), text: knowledgeBase.entities[entity].description,
                              name: knowledgeBase.entities[entity].surfaceForms.first ?? knowledgeBase.entities[entity].name,
                              tokenizer: tokenizer, linker: linker, special: special, maxTokens: options.descriptionTokens)
        }
        var descriptionPointer: [Int64] = [0], anchorPointer: [Int64] = [0]
        var descriptionTokenIDs: [Int32] = [], anchorTokenIDs: [Int32] = []
        var descriptionSpans: [Int32] = []
        descriptionPointer.reserveCapacity(descriptions.count + 1)
        anchorPointer.reserveCapacity(descriptions.count + 1)
        descriptionSpans.reserveCapacity(2 * descriptions.count)
        for description in descriptions {
            descriptionTokenIDs += description.tokens
            descriptionPointer.append(Int64(descriptionTokenIDs.count))
            descriptionSpans += [description.span.0, description.span.1]
            anchorTokenIDs += description.anchor
            anchorPointer.append(Int64(anchorTokenIDs.count))
        }

        let triples = TripleSplit(triples: knowledgeBase.triples, options: options.splits)
        let graph = Adjacency(nodeCount: knowledgeBase.entities.count, relationCount: knowledgeBase.relations.count,
                              triples: triples.train)
        return PreparedDataset(source: source, packing: options.packing, packingStatistics: statistics,
                               vocabulary: tokenizer.vocabulary.tokens, maxTokens: options.maxTokens,
                               descriptionTokens: options.descriptionTokens, splitOptions: options.splits,
                               knowledgeBase: knowledgeBase, triples: triples, trainingGraph: graph,
                               descriptionPointer: descriptionPointer, descriptionTokenIDs: descriptionTokenIDs,
                               descriptionSpans: descriptionSpans, descriptionAnchorPointer: anchorPointer,
                               descriptionAnchorTokenIDs: anchorTokenIDs, segments: segments)
    }

    /// A text's word pieces and its mentions as piece ranges (given, or linked here); a mention
    /// over no piece (only dropped characters) is left out.
    static func encodeText(_ text: CorpusSegment, tokenizer: WordPieceTokenizer, linker: EntityLinker) -> EncodedText {
        let encoding = tokenizer.encodeWithOffsets(text.text)
        var result = EncodedText(ids: [], wordStarts: [], mentions: [], source: text.sourceEntity)
        result.ids.reserveCapacity(encoding.count)
        result.wordStarts.reserveCapacity(encoding.count)
        for piece in encoding.pieces {
            result.ids.append(piece.id)
            result.wordStarts.append(piece.startsWord ? 1 : 0)
        }
        for mention in text.mentions ?? linker.link(text.text) {
            guard let pieces = encoding.pieceRange(overlapping: mention.start..<mention.end) else { continue }
            result.mentions.append((Int32(pieces.lowerBound), Int32(pieces.upperBound), mention.entity))
        }
        return result
    }

    /// `[CLS] description [SEP]` cut to `maxTokens`, the (s, o) span of the first occurrence of
    /// one of the entity's surface forms in the kept tokens, else (1, 1) — and then the anchor
    /// (DESIGN §4): the pieces of `name :` that `memory.anchor: name` puts before the description,
    /// so that (s, o) spans the name; empty when a surface form occurs (or the name has no piece).
    static func encodeDescription(entity: Int32, text: String, name: String, tokenizer: WordPieceTokenizer, linker: EntityLinker,
                                  special: SpecialTokenIDs, maxTokens: Int) -> (tokens: [Int32], span: (Int32, Int32), anchor: [Int32]) {
        let encoding = tokenizer.encodeWithOffsets(text)
        let kept = min(encoding.count, maxTokens - 2)
        var tokens: [Int32] = [special.cls]
        tokens.reserveCapacity(kept + 2)
        for piece in encoding.pieces.prefix(kept) { tokens.append(piece.id) }
        tokens.append(special.sep)
        if let occurrence = linker.firstOccurrence(of: entity, in: text),
           let pieces = encoding.pieceRange(overlapping: occurrence), pieces.upperBound <= kept {
            return (tokens, (Int32(pieces.lowerBound + 1), Int32(pieces.upperBound)), [])
        }
        let namePieces = tokenizer.encodeWithOffsets(name).ids
        return (tokens, (1, 1), namePieces.isEmpty ? [] : namePieces + tokenizer.encodeWithOffsets(":").ids)
    }
}

/// `transform` applied to every element, on up to two threads (the machine has two cores),
/// results in input order.
func concurrentMap<Element, Result>(_ items: [Element], _ transform: (Element) -> Result) -> [Result] {
    let count = items.count
    guard count > 256 else { return items.map(transform) }
    let chunks = min(2, ProcessInfo.processInfo.activeProcessorCount)
    var parts = [[Result]](repeating: [], count: chunks)
    let size = (count + chunks - 1) / chunks
    parts.withUnsafeMutableBufferPointer { buffer in
        let base = buffer.baseAddress
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let range = (chunk * size)..<min(count, (chunk + 1) * size)
            var local: [Result] = []
            local.reserveCapacity(range.count)
            for i in range { local.append(transform(items[i])) }
            base?[chunk] = local
        }
    }
    return parts.flatMap { $0 }
}
