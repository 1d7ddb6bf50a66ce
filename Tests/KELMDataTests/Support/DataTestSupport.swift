import Foundation
@testable import KELMData
import KELMHDF5
import KELMNumerics
import XCTest

/// Paths of the committed test inputs and scratch directories.
enum DataFixtures {
    /// `Tests/KELMDataTests/Fixtures`.
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    /// The repository root.
    static let root = fixtures.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// The bert-base-uncased vocabulary.
    static let vocabulary = fixtures.appendingPathComponent("vocab.txt").path
    /// The small WordNet database.
    static let wordNetMini = fixtures.appendingPathComponent("wordnet-mini").path
    /// The TSV example of docs/data.md.
    static let example = root.appendingPathComponent("docs/examples/tsv")

    static func example(_ name: String) -> String { example.appendingPathComponent(name).path }

    /// The example's input files with the given corpus (`corpus.txt` or `corpus.jsonl`).
    static func exampleFiles(corpus: String = "corpus.txt") -> TSVInputFiles {
        TSVInputFiles(entities: example("entities.tsv"), relations: example("relations.tsv"),
                      triples: example("triples.tsv"), corpus: example(corpus))
    }

    nonisolated(unsafe) private static var cachedTokenizer: WordPieceTokenizer?

    /// The bert-base-uncased tokenizer (loaded once).
    static func tokenizer() throws -> WordPieceTokenizer {
        if let cachedTokenizer { return cachedTokenizer }
        let tokenizer = try WordPieceTokenizer(vocabularyFile: vocabulary)
        cachedTokenizer = tokenizer
        return tokenizer
    }
}

/// A fresh directory under the temporary directory, removed when the test ends.
func temporaryDirectory(_ test: XCTestCase, _ name: String = #function) throws -> URL {
    let base = FileManager.default.temporaryDirectory
        .appendingPathComponent("kelm-data-tests-\(ProcessInfo.processInfo.processIdentifier)")
        .appendingPathComponent(name.filter { $0.isLetter || $0.isNumber } + "-" + UUID().uuidString.prefix(8))
    try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
    test.addTeardownBlock {
        do { try FileManager.default.removeItem(at: base) } catch { XCTFail("cannot remove \(base.path): \(error)") }
    }
    return base
}

/// Writes `text` to `directory/name` and returns the path.
@discardableResult
func writeFile(_ directory: URL, _ name: String, _ text: String) throws -> String {
    let url = directory.appendingPathComponent(name)
    try Data(text.utf8).write(to: url)
    return url.path
}

/// Copies the example's four TSV inputs into `directory` so a test can spoil one.
func copyExample(to directory: URL, corpus: String = "corpus.txt") throws -> TSVInputFiles {
    for name in ["entities.tsv", "relations.tsv", "triples.tsv", corpus] {
        try FileManager.default.copyItem(atPath: DataFixtures.example(name), toPath: directory.appendingPathComponent(name).path)
    }
    return TSVInputFiles(entities: directory.appendingPathComponent("entities.tsv").path,
                         relations: directory.appendingPathComponent("relations.tsv").path,
                         triples: directory.appendingPathComponent("triples.tsv").path,
                         corpus: directory.appendingPathComponent(corpus).path)
}

/// Asserts that `body` throws a `DataError` of `kind` and returns it.
@discardableResult
func assertDataError<T>(_ kind: DataError.Kind, file: StaticString = #filePath, line: UInt = #line,
                        _ body: () throws -> T) -> DataError? {
    do {
        _ = try body()
        XCTFail("expected a DataError of kind \(kind), nothing was thrown", file: file, line: line)
    } catch let error as DataError {
        XCTAssertEqual(error.kind, kind, "\(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected a DataError of kind \(kind), got \(error)", file: file, line: line)
    }
    return nil
}

/// A synthetic dataset for loader tests: a random dense KG and random segments with many
/// mentions, built directly (no tokenizer): vocabulary = the five special tokens + `w0…`.
enum SyntheticDataset {
    static func make(entities: Int = 40, relations: Int = 3, triples: Int = 400, segments: Int = 60,
                     vocabularyWords: Int = 200, maxTokens: Int = 32, seed: UInt64 = 7) -> PreparedDataset {
        var random = SplitMix(seed: seed)
        let vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (0..<vocabularyWords).map { "w\($0)" }
        var raw: [Triple] = []
        for _ in 0..<triples {
            let h = Int32(random.next(entities)), t = Int32(random.next(entities))
            raw.append(Triple(head: h, relation: Int32(random.next(relations)), tail: t))
        }
        let folded = sortedUnique(raw.filter { $0.head != $0.tail })
        let kb = KnowledgeBase(
            entities: (0..<entities).map { Entity(key: "e\($0)", name: "entity \($0)", description: "", surfaceForms: ["entity \($0)"], category: -1) },
            categories: [], relations: (0..<relations).map { "r\($0)" }, triples: folded)
        var table = SegmentTable()
        for s in 0..<segments {
            let length = 3 + random.next(maxTokens - 2)  // 3 ... maxTokens
            var tokens: [Int32] = [2], starts: [Int32] = [1]
            for _ in 1..<(length - 1) {
                tokens.append(Int32(5 + random.next(vocabularyWords)))
                starts.append(random.next(3) == 0 ? 0 : 1)
            }
            tokens.append(3)
            starts.append(1)
            var mentions: [Int32] = []
            var position = 1
            while position < length - 1 && mentions.count < 3 * 12 {
                let end = min(length - 1, position + 1 + random.next(2))
                mentions += [Int32(position), Int32(end), Int32(random.next(entities))]
                position = end + random.next(2)
            }
            // none, one, or (every 5th) two source entities, as packed segments have
            var sources: [Int32] = s % 3 == 0 ? [Int32(random.next(entities))] : []
            if s % 5 == 0, case let extra = Int32(random.next(entities)), !sources.contains(extra) { sources.append(extra) }
            table.append(tokens: tokens, wordStarts: starts, mentions: mentions, sourceEntities: sources,
                         texts: [PackedText(corpusIndex: s, pieces: 0..<(length - 2))])
        }
        var options = SplitOptions()
        options.validTriples = 0.05
        options.testTriples = 0.05
        let split = TripleSplit(triples: folded, options: options)
        return PreparedDataset(
            source: "synthetic", packing: .none, packingStatistics: PackingStatistics(), vocabulary: vocabulary, maxTokens: maxTokens, descriptionTokens: 8, splitOptions: options,
            knowledgeBase: kb, triples: split,
            trainingGraph: Adjacency(nodeCount: entities, relationCount: relations, triples: split.train),
            descriptionPointer: Array(repeating: 0, count: entities + 1), descriptionTokenIDs: [],
            descriptionSpans: Array(repeating: 1, count: 2 * entities),
            descriptionAnchorPointer: Array(repeating: 0, count: entities + 1), descriptionAnchorTokenIDs: [],
            segments: [.train: table, .valid: SegmentTable(), .test: SegmentTable()])
    }
}

/// A tiny deterministic generator for test data (not for the code under test).
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func nextWord() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func next(_ bound: Int) -> Int { Int(nextWord() % UInt64(bound)) }
}

/// Writes `values` into `ds` with a matching checksum (and chunk checksums when it has them): a
/// file wrong inside that only the record checks can catch.
func reseal<T: FixedWidthInteger>(_ ds: HDF5Dataset, _ values: [T]) throws {
    switch values {
    case let v as [Int32]: try ds.write(v)
    case let v as [Int64]: try ds.write(v)
    case let v as [UInt8]: try ds.write(v)
    default: XCTFail("reseal: unsupported element type \(T.self)")
    }
    try values.withUnsafeBytes { bytes in
        try ds.setAttribute(ChecksummedData.attribute, Int64(CRC32.checksum(bytes)))
        if try ds.hasAttribute(ChecksummedData.chunksAttribute) {
            let chunkBytes = Int(try ds.int64Attribute(ChecksummedData.chunkElementsAttribute)) * MemoryLayout<T>.size
            let crcs = stride(from: 0, to: bytes.count, by: chunkBytes).map { start in
                Int64(CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[start..<min(bytes.count, start + chunkBytes)])))
            }
            try ds.setAttribute(ChecksummedData.chunksAttribute, crcs)
        }
    }
}
