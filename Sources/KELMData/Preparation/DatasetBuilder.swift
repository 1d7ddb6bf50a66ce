import Foundation

/// Options of `prepare` shared by all sources.
public struct PrepareOptions: Equatable, Sendable {
    /// T (`--max-tokens`, default 128): a segment is cut to T − 2 word pieces, then `[CLS]` and
    /// `[SEP]` are added.
    public var maxTokens = 128
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

/// Turns a knowledge base and a corpus into a `PreparedDataset`: tokenises the segments
/// (cut to T − 2 pieces, then `[CLS]`/`[SEP]`), links entities where the corpus gave no
/// mentions, maps mention spans to tokens, tokenises the descriptions with their (s, o) spans,
/// splits segments and triples, and builds the training graph.
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

        // Segments, tokenised (in parallel: the tokenizer and linker are read-only values).
        let encoded = concurrentMap(corpus) { segment in
            encodeSegment(segment, tokenizer: tokenizer, linker: linker, special: special, maxTokens: options.maxTokens)
        }
        let split = SegmentSplit(count: corpus.count, options: options.splits)
        var segments: [DataSplit: SegmentTable] = [:]
        for part in DataSplit.allCases {
            var table = SegmentTable()
            for index in split[part] {
                let item = encoded[index]
                table.append(tokens: item.tokens, wordStarts: item.wordStarts, mentions: item.mentions,
                             sourceEntity: corpus[index].sourceEntity, corpusIndex: index)
            }
            segments[part] = table
        }

        // Descriptions.
        let descriptions = concurrentMap(Array(knowledgeBase.entities.indices)) { entity in
            encodeDescription(entity: Int32(entity), text: knowledgeBase.entities[entity].description, tokenizer: tokenizer,
                              linker: linker, special: special, maxTokens: options.descriptionTokens)
        }
        var descriptionPointer: [Int64] = [0]
        var descriptionTokenIDs: [Int32] = []
        var descriptionSpans: [Int32] = []
        descriptionPointer.reserveCapacity(descriptions.count + 1)
        descriptionSpans.reserveCapacity(2 * descriptions.count)
        for description in descriptions {
            descriptionTokenIDs += description.tokens
            descriptionPointer.append(Int64(descriptionTokenIDs.count))
            descriptionSpans += [description.span.0, description.span.1]
        }

        let triples = TripleSplit(triples: knowledgeBase.triples, options: options.splits)
        let graph = Adjacency(nodeCount: knowledgeBase.entities.count, relationCount: knowledgeBase.relations.count,
                              triples: triples.train)
        return PreparedDataset(source: source, vocabulary: tokenizer.vocabulary.tokens, maxTokens: options.maxTokens,
                               descriptionTokens: options.descriptionTokens, splitOptions: options.splits,
                               knowledgeBase: knowledgeBase, triples: triples, trainingGraph: graph,
                               descriptionPointer: descriptionPointer, descriptionTokenIDs: descriptionTokenIDs,
                               descriptionSpans: descriptionSpans, segments: segments)
    }

    /// A tokenised segment: `[CLS] … [SEP]`, word starts, mentions (token start, end, entity).
    struct EncodedSegment {
        var tokens: [Int32]
        var wordStarts: [Int32]
        var mentions: [Int32]
    }

    static func encodeSegment(_ segment: CorpusSegment, tokenizer: WordPieceTokenizer, linker: EntityLinker,
                              special: SpecialTokenIDs, maxTokens: Int) -> EncodedSegment {
        let encoding = tokenizer.encodeWithOffsets(segment.text)
        let kept = min(encoding.count, maxTokens - 2)
        var tokens: [Int32] = [special.cls]
        var wordStarts: [Int32] = [1]
        tokens.reserveCapacity(kept + 2)
        wordStarts.reserveCapacity(kept + 2)
        for piece in encoding.pieces.prefix(kept) {
            tokens.append(piece.id)
            wordStarts.append(piece.startsWord ? 1 : 0)
        }
        tokens.append(special.sep)
        wordStarts.append(1)
        let spans = segment.mentions ?? linker.link(segment.text)
        var mentions: [Int32] = []
        for mention in spans {
            guard let pieces = encoding.pieceRange(overlapping: mention.start..<mention.end), pieces.upperBound <= kept else {
                continue
            }
            mentions += [Int32(pieces.lowerBound + 1), Int32(pieces.upperBound + 1), mention.entity]
        }
        return EncodedSegment(tokens: tokens, wordStarts: wordStarts, mentions: mentions)
    }

    static func encodeDescription(entity: Int32, text: String, tokenizer: WordPieceTokenizer, linker: EntityLinker,
                                  special: SpecialTokenIDs, maxTokens: Int) -> (tokens: [Int32], span: (Int32, Int32)) {
        let encoding = tokenizer.encodeWithOffsets(text)
        let kept = min(encoding.count, maxTokens - 2)
        var tokens: [Int32] = [special.cls]
        tokens.reserveCapacity(kept + 2)
        for piece in encoding.pieces.prefix(kept) { tokens.append(piece.id) }
        tokens.append(special.sep)
        var span: (Int32, Int32) = (1, 1)
        if let occurrence = linker.firstOccurrence(of: entity, in: text),
           let pieces = encoding.pieceRange(overlapping: occurrence), pieces.upperBound <= kept {
            span = (Int32(pieces.lowerBound + 1), Int32(pieces.upperBound))
        }
        return (tokens, span)
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
