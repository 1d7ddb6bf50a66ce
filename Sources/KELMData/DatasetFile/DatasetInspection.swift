import Foundation
import KELMHDF5
import KELMNumerics

/// What a dataset file holds, after reading every byte of its data and checking every checksum
/// and every record (`kelm-dist inspect DATASET`): a damaged file is an error naming the dataset.
public struct DatasetInspection: Codable, Equatable, Sendable {
    public var file: String
    public var format_version: Int
    public var source: String
    public var packing: String
    public var max_tokens: Int
    public var description_tokens: Int
    public var vocabulary_size: Int
    public var vocabulary_digest: String
    public var entities: Int
    public var relations: Int
    public var segments: [String: Int]
    public var tokens: [String: Int]
    public var triples: [String: Int]
    /// Datasets read in full and their checksums compared; bytes read.
    public var datasets_verified: Int
    public var bytes: Int

    /// Opens `path` (a dataset file or its directory), verifies every dataset's checksum and reads
    /// every record through `DatasetFile`'s checks.
    public init(path given: String) throws {
        let dataset = try DatasetFile(path: given)
        defer { try? dataset.close() }  // read-only; a close failure changes nothing found
        let path = dataset.path
        file = path
        format_version = DatasetLayout.formatVersion
        source = dataset.source
        packing = dataset.packing.rawValue
        max_tokens = dataset.maxTokens
        description_tokens = dataset.descriptionTokens
        vocabulary_size = dataset.vocabularySize
        vocabulary_digest = dataset.vocabularyDigest
        entities = dataset.entityCount
        relations = dataset.relationCount
        // every byte of every dataset against its checksum
        var verified = 0, bytes = 0
        for (child, type) in try dataset.file.leafObjects() {
            guard type == .dataset else {
                throw DataError(.corrupt, file: path, field: child, "is neither a group nor a dataset")
            }
            try dataset.file.withDataset(child) { ds in
                let kind = try ds.elementKind()
                let raw: [UInt8]
                switch kind {
                case .integer(bytes: 4, signed: true):
                    raw = try ds.readInt32s().withUnsafeBytes { Array($0) }
                case .integer(bytes: 8, signed: true):
                    raw = try ds.readInt64s().withUnsafeBytes { Array($0) }
                case .integer(bytes: 1, signed: false):
                    raw = try ds.readBytes()
                default:
                    throw DataError(.corrupt, file: path, field: child, "is stored as \(kind), which no dataset of the file is")
                }
                try raw.withUnsafeBytes { try ChecksummedData.verify(ds, $0, file: path, path: child) }
                verified += 1
                bytes += raw.count
            }
        }
        datasets_verified = verified
        self.bytes = bytes
        // every record through the reader's own checks
        var segments: [String: Int] = [:], tokens: [String: Int] = [:], triples: [String: Int] = [:]
        for split in DataSplit.allCases {
            segments[split.rawValue] = dataset.segmentCount(split)
            var n = 0
            for i in 0..<dataset.segmentCount(split) { n += try dataset.segment(i, split: split).tokens.count }
            tokens[split.rawValue] = n
            _ = try dataset.packedTexts(split)
            triples[split.rawValue] = try dataset.triples(split).count
        }
        self.segments = segments
        self.tokens = tokens
        self.triples = triples
        _ = try dataset.descriptions()
        _ = try dataset.entityNames()
        _ = try dataset.relationNames()
    }

    /// The summary as indented JSON (keys sorted).
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// One `key: value` line per item.
    public var text: String {
        func splits(_ d: [String: Int]) -> String { DataSplit.allCases.map { "\($0.rawValue) \(d[$0.rawValue] ?? 0)" }.joined(separator: ", ") }
        return """
            dataset: \(file)
            format: kelm-dist-dataset version \(format_version), source \(source), --pack \(packing)
            T: \(max_tokens), description tokens: \(description_tokens)
            vocabulary: \(vocabulary_size) tokens, digest \(vocabulary_digest)
            entities: \(entities), relations: \(relations)
            segments: \(splits(segments))
            tokens: \(splits(tokens))
            triples: \(splits(triples))
            checksums: all \(datasets_verified) datasets verified (crc32), \(bytes) bytes read; every record checked
            """
    }
}
