import Foundation
import KELMHDF5

/// An open dataset file (written by `prepare`). Opening reads the small global parts — the
/// vocabulary's special ids, the training graph, the per-split segment pointers and source
/// entities — and keeps the large per-token datasets open for row reads, so that a rank reads
/// only the rows of its own segments.
///
/// HDF5 (serial build) is not thread-safe: use one `DatasetFile` from one thread.
public final class DatasetFile {
    /// The file's path.
    public let path: String
    /// The open HDF5 file.
    public let file: HDF5File
    /// Where the data came from (`tsv` or `wordnet`).
    public let source: String
    /// T: tokens per segment at most.
    public let maxTokens: Int
    /// How the texts were put into segments (`prepare --pack`).
    public let packing: PackingMode
    /// Description tokens at most.
    public let descriptionTokens: Int
    /// |E|.
    public let entityCount: Int
    /// R.
    public let relationCount: Int
    /// V.
    public let vocabularySize: Int
    /// The special token ids.
    public let specialTokens: SpecialTokenIDs
    /// The vocabulary's fingerprint (`VocabularyDigest`), as `prepare` stored it and checked here.
    public let vocabularyDigest: String
    /// The training graph, both directions.
    public let trainingGraph: Adjacency

    /// Per split: token pointers, mention pointers, source entities (global, small).
    private var tables: [DataSplit: SplitIndex]

    struct SplitIndex {
        let tokenPointer: [Int64]
        let mentionPointer: [Int64]
        let sourcePointer: [Int64]
        let sourceEntities: [Int32]
        var count: Int { tokenPointer.count - 1 }
        let tokens: ChunkCheckedRows
        let wordStarts: ChunkCheckedRows
        let mentions: ChunkCheckedRows
    }

    /// The dataset file that `given` names: itself, or `dataset.h5` in it when it is a directory
    /// (nil when nothing is there).
    public static func filePath(_ given: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: given, isDirectory: &isDirectory) else { return nil }
        return isDirectory.boolValue ? (given as NSString).appendingPathComponent(DatasetLayout.fileName) : given
    }

    /// True when `file` is an HDF5 file whose `format` attribute names a dataset (whatever its
    /// version or state otherwise): how `inspect` tells a renamed dataset from a checkpoint.
    public static func isDatasetFile(_ file: String) -> Bool {
        guard let h5 = try? HDF5File.open(file) else { return false }
        defer { try? h5.close() }  // read-only probe
        guard (try? h5.hasAttribute("format")) == true, let format = try? h5.stringAttribute("format") else { return false }
        return format == DatasetLayout.format
    }

    /// Opens `path` (a dataset file, or a directory holding `dataset.h5`).
    public init(path given: String) throws {
        guard let path = Self.filePath(given) else {
            throw DataError(.missingFile, file: given, "dataset not found; expected a file written by `kelm-dist prepare` or its directory")
        }
        self.path = path
        let file: HDF5File
        do {
            file = try HDF5File.open(path)
        } catch let e as HDF5Error {
            throw DataError(.malformed, file: path, "not a readable HDF5 file (truncated or corrupt?): \(e.message); expected a dataset written by `kelm-dist prepare`")
        }
        var opened: [ChunkCheckedRows] = []
        do {
            let format = try file.hasAttribute("format") ? try file.stringAttribute("format") : ""
            guard format == DatasetLayout.format else {
                throw DataError(.invalidArgument, file: path, field: "format",
                                "expected a \"\(DatasetLayout.format)\" file, found \"\(format)\"")
            }
            let version = try file.intAttribute("format_version")
            guard version >= 3 else {
                let what = version >= 2 ? "without checksums or a vocabulary digest"
                    : "with one text per segment cut at T − 2 pieces"
                throw DataError(.invalidArgument, file: path, field: "format_version",
                                "is \(version): the file was written by an earlier kelm-dist, \(what); run `kelm-dist prepare` again to write version \(DatasetLayout.formatVersion) (packed segments, long texts in windows, every dataset checksummed)")
            }
            guard version == DatasetLayout.formatVersion else {
                throw DataError(.invalidArgument, file: path, field: "format_version",
                                "expected version \(DatasetLayout.formatVersion), found \(version) (written by a newer kelm-dist?)")
            }
            source = try file.stringAttribute("source")
            maxTokens = try file.intAttribute("max_tokens")
            let packingName = try file.stringAttribute("packing")
            guard let packing = PackingMode(rawValue: packingName) else {
                throw DataError(.invalidArgument, file: path, field: "packing",
                                "expected one of \(PackingMode.allCases.map(\.rawValue).joined(separator: ", ")), found \"\(packingName)\"")
            }
            self.packing = packing
            descriptionTokens = try file.intAttribute("description_tokens")
            let entityCount = try file.intAttribute("entity_count")
            let relationCount = try file.intAttribute("relation_count")
            // ids are stored as int32: anything else is a damaged file (and would overflow below)
            for (name, value, least) in [("entity_count", entityCount, 1), ("relation_count", relationCount, 1),
                                         ("max_tokens", maxTokens, 2), ("description_tokens", descriptionTokens, 2)]
            where value < least || value > Int(Int32.max) / 2 {
                throw DataError(.invalidArgument, file: path, field: name, "is \(value); expected \(least)…\(Int(Int32.max) / 2)")
            }
            // the counts must be those of the entity and relation tables (shapes only: no read)
            for (table, count, name) in [("/entities/name", entityCount, "entity_count"), ("/relations/name", relationCount, "relation_count")] {
                let shape = try file.withDataset(table + "/offsets") { try $0.shape() }
                guard shape == [count + 1] else {
                    throw DataError(.invalidArgument, file: path, field: name, "is \(count), but \(table) holds \(max(0, (shape.first ?? 0) - 1)) strings")
                }
            }
            self.entityCount = entityCount
            self.relationCount = relationCount
            let vocabulary = try ChecksummedData.readStrings(file, "/vocabulary/tokens", file: path)
            vocabularySize = vocabulary.count
            specialTokens = try SpecialTokenIDs(vocabulary: vocabulary, file: path)
            vocabularyDigest = try file.stringAttribute("vocabulary_digest")
            guard vocabularyDigest == VocabularyDigest.of(vocabulary) else {
                throw DataError(.corrupt, file: path, field: "vocabulary_digest",
                                "is \(vocabularyDigest), but the stored vocabulary's is \(VocabularyDigest.of(vocabulary)): the file is damaged")
            }
            let offsets = try ChecksummedData.readInt64s(file, "/kg/adjacency/offsets", file: path)
            let neighbors = try ChecksummedData.readInt32s(file, "/kg/adjacency/neighbors", file: path)
            let relations = try ChecksummedData.readInt32s(file, "/kg/adjacency/relations", file: path)
            guard offsets.count == entityCount + 1, offsets.last.map({ Int($0) }) == neighbors.count,
                  relations.count == neighbors.count,
                  neighbors.allSatisfy({ $0 >= 0 && Int($0) < entityCount }),
                  relations.allSatisfy({ $0 >= 0 && Int($0) < 2 * relationCount }) else {
                throw DataError(.invalidArgument, file: path, field: "/kg/adjacency", "inconsistent CSR adjacency")
            }
            trainingGraph = Adjacency(nodeCount: entityCount, relationCount: relationCount, offsets: offsets,
                                      neighbors: neighbors, relations: relations)
            var tables: [DataSplit: SplitIndex] = [:]
            for split in DataSplit.allCases {
                let tokenPointer = try ChecksummedData.readInt64s(file, DatasetLayout.segments(split, "token_ptr"), file: path)
                let mentionPointer = try ChecksummedData.readInt64s(file, DatasetLayout.segments(split, "mention_ptr"), file: path)
                let sourcePointer = try ChecksummedData.readInt64s(file, DatasetLayout.segments(split, "source_ptr"), file: path)
                let sourceEntities = try ChecksummedData.readInt32s(file, DatasetLayout.segments(split, "source_entities"), file: path)
                let count = tokenPointer.count - 1
                guard count >= 0, tokenPointer.first == 0, mentionPointer.count == count + 1, sourcePointer.count == count + 1,
                      sourcePointer.first == 0, sourcePointer.last == Int64(sourceEntities.count) else {
                    throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)",
                                    "pointer arrays do not match the number of segments")
                }
                for i in 0..<count {
                    let length = tokenPointer[i + 1] - tokenPointer[i]
                    guard length >= 2 && length <= maxTokens, mentionPointer[i + 1] >= mentionPointer[i],
                          sourcePointer[i + 1] >= sourcePointer[i] else {
                        throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)",
                                        "segment \(i) is inconsistent: \(length) tokens (expected 2…\(maxTokens)), \(mentionPointer[i + 1] - mentionPointer[i]) mentions, \(sourcePointer[i + 1] - sourcePointer[i]) source entities")
                    }
                }
                if let bad = sourceEntities.firstIndex(where: { $0 < 0 || Int($0) >= entityCount }) {
                    throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)/source_entities",
                                    "entry \(bad) is \(sourceEntities[bad]); expected entity ids below \(entityCount)")
                }
                let tokens = try ChunkCheckedRows(file, DatasetLayout.segments(split, "tokens"), file: path)
                opened.append(tokens)
                let wordStarts = try ChunkCheckedRows(file, DatasetLayout.segments(split, "word_start"), file: path)
                opened.append(wordStarts)
                let mentions = try ChunkCheckedRows(file, DatasetLayout.segments(split, "mentions"), file: path)
                opened.append(mentions)
                guard tokens.count == Int(tokenPointer.last ?? 0), wordStarts.count == tokens.count,
                      mentions.count == 3 * Int(mentionPointer.last ?? 0) else {
                    throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)",
                                    "the token, word-start and mention tables do not match their pointers")
                }
                tables[split] = SplitIndex(tokenPointer: tokenPointer, mentionPointer: mentionPointer,
                                           sourcePointer: sourcePointer, sourceEntities: sourceEntities, tokens: tokens,
                                           wordStarts: wordStarts, mentions: mentions)
            }
            self.tables = tables
            self.file = file
        } catch {
            // The read error is the one to report; closing is best effort.
            for dataset in opened { try? dataset.close() }
            try? file.close()
            throw error
        }
    }

    /// Closes the open datasets and the file.
    public func close() throws {
        for table in tables.values {
            try table.tokens.close()
            try table.wordStarts.close()
            try table.mentions.close()
        }
        tables = [:]
        try file.close()
    }

    private func closeQuietly() {
        // Used while another error is being reported; a failure to close cannot be reported too.
        for table in tables.values {
            try? table.tokens.close()
            try? table.wordStarts.close()
            try? table.mentions.close()
        }
        tables = [:]
        try? file.close()
    }

    deinit { closeQuietly() }

    /// Number of segments in `split`.
    public func segmentCount(_ split: DataSplit) -> Int {
        tables[split]?.count ?? 0
    }

    /// Reads segment `index` of `split` (hyperslab reads of its rows only).
    public func segment(_ index: Int, split: DataSplit) throws -> SegmentRecord {
        guard let table = tables[split], index >= 0, index < table.count else {
            throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)",
                            "segment \(index) does not exist; the split has \(segmentCount(split)) segments")
        }
        let tokenRows = Int(table.tokenPointer[index])..<Int(table.tokenPointer[index + 1])
        let mentionRows = Int(table.mentionPointer[index])..<Int(table.mentionPointer[index + 1])
        let record = SegmentRecord(tokens: try table.tokens.readInt32s(rows: tokenRows),
                                   wordStarts: try table.wordStarts.readInt32s(rows: tokenRows),
                                   mentions: mentionRows.isEmpty ? [] : try table.mentions.readInt32s(rows: mentionRows, rowWidth: 3),
                                   sourceEntities: Array(table.sourceEntities[Int(table.sourcePointer[index])..<Int(table.sourcePointer[index + 1])]))
        var m = 0
        while m + 2 < record.mentions.count {
            let start = record.mentions[m], end = record.mentions[m + 1], entity = record.mentions[m + 2]
            guard start >= 0 && start < end && Int(end) <= record.tokens.count && entity >= 0 && Int(entity) < entityCount else {
                throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)/mentions",
                                "segment \(index) has the mention (\(start), \(end), \(entity)); expected tokens within 0..<\(record.tokens.count) and an entity below \(entityCount)")
            }
            m += 3
        }
        for token in record.tokens where token < 0 || Int(token) >= vocabularySize {
            throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)/tokens",
                            "segment \(index) has token id \(token); expected ids below \(vocabularySize)")
        }
        return record
    }

    /// The texts (or windows) each segment of `split` holds: the corpus index and piece range of
    /// each, per segment (for checking what packing did; not needed for training).
    public func packedTexts(_ split: DataSplit) throws -> [[PackedText]] {
        let pointer = try ChecksummedData.readInt64s(file, DatasetLayout.segments(split, "text_ptr"), file: path)
        let flat = try ChecksummedData.readInt64s(file, DatasetLayout.segments(split, "texts"), file: path)
        guard pointer.count == segmentCount(split) + 1, pointer.first == 0, pointer.last.map({ 3 * $0 }) == Int64(flat.count),
              zip(pointer, pointer.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw DataError(.invalidArgument, file: path, field: DatasetLayout.segments(split, "text_ptr"),
                            "does not match the \(segmentCount(split)) segments and \(flat.count / 3) texts")
        }
        for row in 0..<(flat.count / 3) where !(flat[3 * row] >= 0 && flat[3 * row + 1] >= 0 && flat[3 * row + 1] <= flat[3 * row + 2]) {
            throw DataError(.invalidArgument, file: path, field: DatasetLayout.segments(split, "texts"),
                            "row \(row) is (\(flat[3 * row]), \(flat[3 * row + 1]), \(flat[3 * row + 2])); expected (corpus index ≥ 0, first piece ≥ 0, end ≥ first)")
        }
        return (0..<segmentCount(split)).map { i in
            (Int(pointer[i])..<Int(pointer[i + 1])).map {
                PackedText(corpusIndex: Int(flat[3 * $0]), pieces: Int(flat[3 * $0 + 1])..<Int(flat[3 * $0 + 2]))
            }
        }
    }

    /// The entity of every mention in `split` (one read of the whole mention table).
    public func mentionedEntities(_ split: DataSplit) throws -> [Int32] {
        guard let table = tables[split] else { return [] }
        let flat = try table.mentions.readInt32s(rows: 0..<(table.mentions.count / 3), rowWidth: 3)
        return stride(from: 2, to: flat.count, by: 3).map { flat[$0] }
    }

    /// Every triple of `split`; entities and relations must be in range.
    public func triples(_ split: DataSplit) throws -> [Triple] {
        let flat = try ChecksummedData.readInt32s(file, DatasetLayout.triples(split), file: path)
        let triples = stride(from: 0, to: flat.count - flat.count % 3, by: 3).map { Triple(head: flat[$0], relation: flat[$0 + 1], tail: flat[$0 + 2]) }
        if let (i, t) = triples.enumerated().first(where: { _, t in
            t.head < 0 || Int(t.head) >= entityCount || t.tail < 0 || Int(t.tail) >= entityCount || t.relation < 0 || Int(t.relation) >= relationCount
        }) {
            throw DataError(.invalidArgument, file: path, field: DatasetLayout.triples(split),
                            "triple \(i) is (\(t.head), \(t.relation), \(t.tail)); expected entities below \(entityCount) and relations below \(relationCount)")
        }
        return triples
    }

    /// The vocabulary's token strings.
    public func vocabulary() throws -> [String] {
        try ChecksummedData.readStrings(file, "/vocabulary/tokens", file: path)
    }

    /// The entity names.
    public func entityNames() throws -> [String] {
        try ChecksummedData.readStrings(file, "/entities/name", file: path)
    }

    /// The relation names.
    public func relationNames() throws -> [String] {
        try ChecksummedData.readStrings(file, "/relations/name", file: path)
    }

    /// Every entity's description as the memory encodes it (`EntityDescriptions`), checked: one
    /// description of at least 2 tokens per entity, token ids below V, spans inside their
    /// description, one (possibly empty) anchor per entity.
    public func descriptions() throws -> EntityDescriptions {
        let pointer = try ChecksummedData.readInt64s(file, "/descriptions/token_ptr", file: path)
        let tokens = try ChecksummedData.readInt32s(file, "/descriptions/tokens", file: path)
        let spans = try ChecksummedData.readInt32s(file, "/descriptions/span", file: path)
        let anchorPointer = try ChecksummedData.readInt64s(file, "/descriptions/anchor_ptr", file: path)
        let anchorTokens = try ChecksummedData.readInt32s(file, "/descriptions/anchor_tokens", file: path)
        guard pointer.count == entityCount + 1, pointer.first == 0, pointer.last == Int64(tokens.count) else {
            throw DataError(.invalidArgument, file: path, field: "/descriptions/token_ptr",
                            "holds \(pointer.count) pointers from \(pointer.first ?? -1) to \(pointer.last ?? -1); expected \(entityCount + 1) from 0 to \(tokens.count) (the token count)")
        }
        guard spans.count == 2 * entityCount else {
            throw DataError(.invalidArgument, file: path, field: "/descriptions/span",
                            "holds \(spans.count) values; expected 2 per entity, \(2 * entityCount)")
        }
        guard anchorPointer.count == entityCount + 1, anchorPointer.first == 0, anchorPointer.last == Int64(anchorTokens.count),
              zip(anchorPointer, anchorPointer.dropFirst()).allSatisfy({ $0 <= $1 }) else {
            throw DataError(.invalidArgument, file: path, field: "/descriptions/anchor_ptr",
                            "expected \(entityCount + 1) non-decreasing pointers from 0 to \(anchorTokens.count) (the anchor token count)")
        }
        for e in 0..<entityCount {
            let length = pointer[e + 1] - pointer[e]
            guard length >= 2 else {
                throw DataError(.invalidArgument, file: path, field: "/descriptions/token_ptr",
                                "entity \(e) has a description of \(length) tokens; expected at least 2 ([CLS] and [SEP])")
            }
            guard spans[2 * e] >= 0, spans[2 * e + 1] >= 0, Int64(spans[2 * e]) < length, Int64(spans[2 * e + 1]) < length else {
                throw DataError(.invalidArgument, file: path, field: "/descriptions/span",
                                "entity \(e) has the span (\(spans[2 * e]), \(spans[2 * e + 1])); expected positions within its \(length) tokens")
            }
        }
        for (name, ids) in [("/descriptions/tokens", tokens), ("/descriptions/anchor_tokens", anchorTokens)] {
            if let i = ids.firstIndex(where: { $0 < 0 || Int($0) >= vocabularySize }) {
                throw DataError(.invalidArgument, file: path, field: name, "token \(i) has id \(ids[i]); expected ids below \(vocabularySize)")
            }
        }
        return EntityDescriptions(pointer: pointer, tokens: tokens, spans: spans, anchorPointer: anchorPointer,
                                  anchorTokens: anchorTokens, sep: specialTokens.sep)
    }
}

/// The entities' descriptions as the entity-context memory encodes them (DESIGN §4): each
/// `[CLS] description [SEP]` with the (s, o) span of a name in it, and, for a description that
/// holds none of its entity's names, the anchor `name :` that `memory.anchor: name` puts first.
public struct EntityDescriptions: Sendable {
    /// [E + 1] entity e's tokens are `tokens[pointer[e] ..< pointer[e + 1]]`: `[CLS] description [SEP]`.
    public let pointer: [Int64]
    public let tokens: [Int32]
    /// [E, 2] flat: (s, o) of a name in the description, else (1, 1).
    public let spans: [Int32]
    /// [E + 1] entity e's anchor is `anchorTokens[anchorPointer[e] ..< anchorPointer[e + 1]]`:
    /// the pieces of `name :`, or none.
    public let anchorPointer: [Int64]
    public let anchorTokens: [Int32]
    /// The `[SEP]` id (a cut description ends with it).
    public let sep: Int32

    /// How a description without its entity's name is encoded (`memory.anchor`).
    public enum Anchor: String, Sendable {
        /// `[CLS] name : description [SEP]`, (s, o) spanning the name (default).
        case name
        /// The description unchanged, (s, o) = (1, 1): the first description token (an ablation).
        case none
    }

    public init(pointer: [Int64], tokens: [Int32], spans: [Int32], anchorPointer: [Int64], anchorTokens: [Int32], sep: Int32) {
        self.pointer = pointer
        self.tokens = tokens
        self.spans = spans
        self.anchorPointer = anchorPointer
        self.anchorTokens = anchorTokens
        self.sep = sep
    }

    /// Entities with an anchor (their description names them nowhere).
    public var anchoredCount: Int { zip(anchorPointer, anchorPointer.dropFirst()).filter { $0 < $1 }.count }

    /// Writes entity `e`'s description into `out`, cut to `capacity` tokens (at least 2; the last
    /// kept token becomes `[SEP]`), and returns its length and (s, o).
    public func write(_ e: Int, anchor: Anchor, into out: UnsafeMutablePointer<Int32>, capacity: Int) -> (length: Int, start: Int, end: Int) {
        let start = Int(pointer[e]), end = Int(pointer[e + 1])
        let prefix = anchor == .name ? Int(anchorPointer[e])..<Int(anchorPointer[e + 1]) : 0..<0
        // [CLS], the anchor, the description's pieces, [SEP]
        let total = end - start + prefix.count
        let length = min(total, capacity)
        out[0] = tokens[start]
        var t = 1
        for i in prefix where t < length { out[t] = anchorTokens[i]; t += 1 }
        var i = start + 1
        while t < length { out[t] = tokens[i]; t += 1; i += 1 }
        out[length - 1] = sep
        if !prefix.isEmpty {
            // the name's pieces: the anchor without its ':'
            return (length, 1, max(1, min(prefix.count - 1, length - 2)))
        }
        return (length, min(Int(spans[2 * e]), length - 1), min(Int(spans[2 * e + 1]), length - 1))
    }
}
