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
    /// The training graph, both directions.
    public let trainingGraph: Adjacency

    /// Per split: token pointers, mention pointers, source entities (global, small).
    private var tables: [DataSplit: SplitIndex]

    struct SplitIndex {
        let tokenPointer: [Int64]
        let mentionPointer: [Int64]
        let sourceEntity: [Int32]
        let tokens: HDF5Dataset
        let wordStarts: HDF5Dataset
        let mentions: HDF5Dataset
    }

    /// The dataset file that `given` names: itself, or `dataset.h5` in it when it is a directory
    /// (nil when nothing is there).
    public static func filePath(_ given: String) -> String? {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: given, isDirectory: &isDirectory) else { return nil }
        return isDirectory.boolValue ? (given as NSString).appendingPathComponent(DatasetLayout.fileName) : given
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
        var opened: [HDF5Dataset] = []
        do {
            let format = try file.hasAttribute("format") ? try file.stringAttribute("format") : ""
            guard format == DatasetLayout.format else {
                throw DataError(.invalidArgument, file: path, field: "format",
                                "expected a \"\(DatasetLayout.format)\" file, found \"\(format)\"")
            }
            let version = try file.intAttribute("format_version")
            guard version == DatasetLayout.formatVersion else {
                throw DataError(.invalidArgument, file: path, field: "format_version",
                                "expected version \(DatasetLayout.formatVersion), found \(version)")
            }
            source = try file.stringAttribute("source")
            maxTokens = try file.intAttribute("max_tokens")
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
                let shape = try file.withDataset(table) { try $0.shape() }
                guard shape == [count] else {
                    throw DataError(.invalidArgument, file: path, field: name, "is \(count), but \(table) has shape \(shape)")
                }
            }
            self.entityCount = entityCount
            self.relationCount = relationCount
            let vocabulary = try file.withDataset("/vocabulary/tokens") { try $0.readStrings() }
            vocabularySize = vocabulary.count
            specialTokens = try SpecialTokenIDs(vocabulary: vocabulary, file: path)
            let offsets = try file.withDataset("/kg/adjacency/offsets") { try $0.readInt64s() }
            let neighbors = try file.withDataset("/kg/adjacency/neighbors") { try $0.readInt32s() }
            let relations = try file.withDataset("/kg/adjacency/relations") { try $0.readInt32s() }
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
                let tokenPointer = try file.withDataset(DatasetLayout.segments(split, "token_ptr")) { try $0.readInt64s() }
                let mentionPointer = try file.withDataset(DatasetLayout.segments(split, "mention_ptr")) { try $0.readInt64s() }
                let sourceEntity = try file.withDataset(DatasetLayout.segments(split, "source_entity")) { try $0.readInt32s() }
                guard tokenPointer.count == sourceEntity.count + 1, mentionPointer.count == sourceEntity.count + 1 else {
                    throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)",
                                    "pointer arrays do not match the number of segments")
                }
                for i in 0..<sourceEntity.count {
                    let length = tokenPointer[i + 1] - tokenPointer[i]
                    guard length >= 2 && length <= maxTokens, mentionPointer[i + 1] >= mentionPointer[i],
                          sourceEntity[i] >= -1 && Int(sourceEntity[i]) < entityCount else {
                        throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)",
                                        "segment \(i) is inconsistent: \(length) tokens (expected 2…\(maxTokens)), source entity \(sourceEntity[i])")
                    }
                }
                let tokens = try file.openDataset(DatasetLayout.segments(split, "tokens"))
                opened.append(tokens)
                let wordStarts = try file.openDataset(DatasetLayout.segments(split, "word_start"))
                opened.append(wordStarts)
                let mentions = try file.openDataset(DatasetLayout.segments(split, "mentions"))
                opened.append(mentions)
                tables[split] = SplitIndex(tokenPointer: tokenPointer, mentionPointer: mentionPointer,
                                           sourceEntity: sourceEntity, tokens: tokens, wordStarts: wordStarts,
                                           mentions: mentions)
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
        tables[split]?.sourceEntity.count ?? 0
    }

    /// Reads segment `index` of `split` (hyperslab reads of its rows only).
    public func segment(_ index: Int, split: DataSplit) throws -> SegmentRecord {
        guard let table = tables[split], index >= 0, index < table.sourceEntity.count else {
            throw DataError(.invalidArgument, file: path, field: "/segments/\(split.rawValue)",
                            "segment \(index) does not exist; the split has \(segmentCount(split)) segments")
        }
        let tokenRows = Int(table.tokenPointer[index])..<Int(table.tokenPointer[index + 1])
        let mentionRows = Int(table.mentionPointer[index])..<Int(table.mentionPointer[index + 1])
        let record = SegmentRecord(tokens: try table.tokens.readInt32s(rows: tokenRows),
                                   wordStarts: try table.wordStarts.readInt32s(rows: tokenRows),
                                   mentions: mentionRows.isEmpty ? [] : try table.mentions.readInt32s(rows: mentionRows),
                                   sourceEntity: table.sourceEntity[index])
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

    /// The entity of every mention in `split` (one read of the whole mention table).
    public func mentionedEntities(_ split: DataSplit) throws -> [Int32] {
        guard let table = tables[split] else { return [] }
        let flat = try table.mentions.readInt32s()
        return stride(from: 2, to: flat.count, by: 3).map { flat[$0] }
    }

    /// Every triple of `split`; entities and relations must be in range.
    public func triples(_ split: DataSplit) throws -> [Triple] {
        let flat = try file.withDataset(DatasetLayout.triples(split)) { try $0.readInt32s() }
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
        try file.withDataset("/vocabulary/tokens") { try $0.readStrings() }
    }

    /// The entity names.
    public func entityNames() throws -> [String] {
        try file.withDataset("/entities/name") { try $0.readStrings() }
    }

    /// The relation names.
    public func relationNames() throws -> [String] {
        try file.withDataset("/relations/name") { try $0.readStrings() }
    }

    /// `[CLS] description [SEP]` token ids of every entity (flat), the pointers into them and each
    /// entity's (s, o) span; checked: one description of at least 2 tokens per entity, token ids
    /// below V, spans inside their description.
    public func descriptions() throws -> (pointer: [Int64], tokens: [Int32], spans: [Int32]) {
        let pointer = try file.withDataset("/descriptions/token_ptr") { try $0.readInt64s() }
        let tokens = try file.withDataset("/descriptions/tokens") { try $0.readInt32s() }
        let spans = try file.withDataset("/descriptions/span") { try $0.readInt32s() }
        guard pointer.count == entityCount + 1, pointer.first == 0, pointer.last == Int64(tokens.count) else {
            throw DataError(.invalidArgument, file: path, field: "/descriptions/token_ptr",
                            "holds \(pointer.count) pointers from \(pointer.first ?? -1) to \(pointer.last ?? -1); expected \(entityCount + 1) from 0 to \(tokens.count) (the token count)")
        }
        guard spans.count == 2 * entityCount else {
            throw DataError(.invalidArgument, file: path, field: "/descriptions/span",
                            "holds \(spans.count) values; expected 2 per entity, \(2 * entityCount)")
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
        if let i = tokens.firstIndex(where: { $0 < 0 || Int($0) >= vocabularySize }) {
            throw DataError(.invalidArgument, file: path, field: "/descriptions/tokens",
                            "token \(i) has id \(tokens[i]); expected ids below \(vocabularySize)")
        }
        return (pointer, tokens, spans)
    }
}
