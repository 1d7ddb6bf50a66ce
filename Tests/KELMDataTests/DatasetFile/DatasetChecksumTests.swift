import Foundation
import KELMHDF5
import KELMNumerics
@testable import KELMData
import XCTest

/// Dataset files defend themselves as checkpoints do (issue 20, item 4): HDF5's checksummed
/// metadata, a CRC-32 on every dataset, chunk CRCs on the per-token tables, strings stored as
/// checked UTF-8 bytes, and the vocabulary's digest. Damage is one `.corrupt` error naming the
/// dataset. (Random byte flips in the whole file, through `kelm-dist inspect`: InputFuzzTests.)
final class DatasetChecksumTests: XCTestCase {
    /// Every dataset path of the file.
    static func datasets(_ f: HDF5File) throws -> [String] {
        try f.leafObjects().filter { $0.type == .dataset }.map(\.path)
    }

    /// The TSV example of docs/data.md, prepared (every table filled, descriptions included).
    func written(_ directory: URL, _ name: String = "ok") throws -> String {
        let out = directory.appendingPathComponent(name).path
        _ = try DatasetPreparation.prepareTSV(DataFixtures.exampleFiles(), vocabulary: DataFixtures.vocabulary, options: PrepareOptions(),
                                              outputDirectory: out)
        return out + "/" + DatasetLayout.fileName
    }

    func copy(_ original: String, _ directory: URL, _ name: String) throws -> String {
        let path = directory.appendingPathComponent(name + ".h5").path
        try FileManager.default.copyItem(atPath: original, toPath: path)
        return path
    }

    func testEveryDatasetCarriesItsChecksum() throws {
        let directory = try temporaryDirectory(self)
        let path = try written(directory)
        let f = try HDF5File.open(path)
        defer { XCTAssertNoThrow(try f.close()) }
        let all = try Self.datasets(f)
        XCTAssertGreaterThan(all.count, 20)
        for d in all {
            try f.withDataset(d) { ds in
                XCTAssertTrue(try ds.hasAttribute(ChecksummedData.attribute), d)
                let perToken = d.hasPrefix("/segments/") && ["tokens", "word_start", "mentions"].contains((d as NSString).lastPathComponent)
                XCTAssertEqual(try ds.hasAttribute(ChecksummedData.chunksAttribute), perToken, d)
            }
        }
        XCTAssertTrue(all.contains("/vocabulary/tokens/utf8") && all.contains("/vocabulary/tokens/offsets"), "\(all)")
        let inspection = try DatasetInspection(path: path)
        XCTAssertEqual(inspection.datasets_verified, all.count)
        XCTAssertEqual(inspection.vocabulary_digest, try DatasetFile(path: path).vocabularyDigest)
        XCTAssertEqual(inspection.vocabulary_digest, VocabularyDigest.of(try WordPieceVocabulary(contentsOfFile: DataFixtures.vocabulary).tokens))
    }

    /// One element of any dataset changed (its checksum not): the inspection names that dataset.
    func testAChangedValueInAnyDatasetIsNamed() throws {
        let directory = try temporaryDirectory(self)
        let original = try written(directory)
        let all = try { let f = try HDF5File.open(original); defer { try? f.close() }; return try Self.datasets(f) }()
        for (n, d) in all.enumerated() {
            let path = try copy(original, directory, "changed-\(n)")
            let h5 = try HDF5File.open(path, mode: .readWrite)
            let changed: Bool = try h5.withDataset(d) { ds in
                switch try ds.elementKind() {
                case .integer(bytes: 1, signed: false):
                    var v = try ds.readBytes(); guard !v.isEmpty else { return false }; v[v.count / 2] ^= 0x20; try ds.write(v)
                case .integer(bytes: 8, signed: true):
                    var v = try ds.readInt64s(); guard !v.isEmpty else { return false }; v[v.count / 2] ^= 1; try ds.write(v)
                default:
                    var v = try ds.readInt32s(); guard !v.isEmpty else { return false }; v[v.count / 2] ^= 1 << 20; try ds.write(v)
                }
                return true
            }
            try h5.close()
            guard changed else { continue }  // an empty table (the synthetic data has no test split)
            let error = assertDataError(.corrupt) { try DatasetInspection(path: path) }
            XCTAssertEqual(error?.field, d)
            XCTAssertEqual(error?.file, path)
            XCTAssertTrue(error?.message.hasPrefix("checksum mismatch (stored crc32 ") ?? false, "\(d): \(error.map { "\($0)" } ?? "")")
        }
    }

    /// A per-token table is checked by the chunks a read touches: a rank reading its own
    /// segments reads (and checks) only those, and damage in another chunk surfaces when read.
    func testRowReadsCheckTheChunksTheyTouch() throws {
        let directory = try temporaryDirectory(self)
        let original = try DatasetWriter.write(SyntheticDataset.make(segments: 8_000), to: directory.appendingPathComponent("long").path)
        let path = try copy(original, directory, "late-damage")
        let h5 = try HDF5File.open(path, mode: .readWrite)
        let count = try h5.withDataset("/segments/train/tokens") { ds in
            var v = try ds.readInt32s()
            XCTAssertGreaterThan(v.count, ChecksummedData.chunkElements + 10, "two chunks at least")
            v[ChecksummedData.chunkElements + 5] ^= 1
            try ds.write(v)
            return v.count
        }
        try h5.close()
        let file = try DatasetFile(path: path)
        defer { XCTAssertNoThrow(try file.close()) }
        XCTAssertNoThrow(try file.segment(0, split: .train), "the first chunk is intact")
        var error: DataError?
        for i in 0..<file.segmentCount(.train) {
            do { _ = try file.segment(i, split: .train) } catch let e as DataError { error = e; break }
        }
        let found = try XCTUnwrap(error, "a read of the damaged chunk must fail")
        XCTAssertEqual(found.kind, .corrupt)
        XCTAssertEqual(found.field, "/segments/train/tokens (elements \(ChecksummedData.chunkElements)..<\(min(count, 2 * ChecksummedData.chunkElements)))")
        XCTAssertTrue(found.message.contains("checksum mismatch"), "\(found)")
    }

    func testMissingChecksumsAreRefused() throws {
        let directory = try temporaryDirectory(self)
        let original = try written(directory)
        for (n, (dataset, attribute)) in [("/kg/triples/train", ChecksummedData.attribute),
                                           ("/segments/train/tokens", ChecksummedData.chunksAttribute)].enumerated() {
            let path = try copy(original, directory, "unsealed-\(n)")
            let h5 = try HDF5File.open(path, mode: .readWrite)
            try h5.withDataset(dataset) { try $0.deleteAttribute(attribute) }
            try h5.close()
            let error = assertDataError(.corrupt) { try DatasetInspection(path: path) }
            XCTAssertEqual(error?.field, dataset)
            XCTAssertTrue(error?.message.hasPrefix("has no \(attribute)") ?? false, "\(error.map { "\($0)" } ?? "")")
        }
    }

    /// Strings with matching checksums but broken structure (a writer bug): offsets that do not
    /// rise, bytes that are not UTF-8.
    func testStringTablesAreChecked() throws {
        let directory = try temporaryDirectory(self)
        let original = try written(directory)
        let offsets = try copy(original, directory, "offsets")
        var h5 = try HDF5File.open(offsets, mode: .readWrite)
        try h5.withDataset("/entities/name/offsets") { ds in var v = try ds.readInt64s(); v.swapAt(2, 3); try reseal(ds, v) }
        try h5.close()
        XCTAssertEqual(assertDataError(.corrupt) { try DatasetInspection(path: offsets) }?.field, "/entities/name/offsets")

        let utf8 = try copy(original, directory, "utf8")
        h5 = try HDF5File.open(utf8, mode: .readWrite)
        try h5.withDataset("/vocabulary/tokens/utf8") { ds in var v = try ds.readBytes(); v[0] = 0xFF; try reseal(ds, v) }
        try h5.close()
        let error = assertDataError(.corrupt) { try DatasetFile(path: utf8) }
        XCTAssertEqual(error?.field, "/vocabulary/tokens")
        XCTAssertEqual(error?.message, "string 0 is not valid UTF-8")
    }

    /// The digest is the vocabulary's: a file whose vocabulary or digest was altered consistently
    /// with its checksums still disagrees with itself.
    func testVocabularyDigestIsVerified() throws {
        let directory = try temporaryDirectory(self)
        let original = try written(directory)
        let path = try copy(original, directory, "digest")
        let h5 = try HDF5File.open(path, mode: .readWrite)
        try h5.setFixedLengthAttribute("vocabulary_digest", "0123456789abcdef")
        try h5.close()
        let error = assertDataError(.corrupt) { try DatasetFile(path: path) }
        XCTAssertEqual(error?.field, "vocabulary_digest")
        XCTAssertTrue(error?.message.hasPrefix("is 0123456789abcdef, but the stored vocabulary's is ") ?? false, "\(error.map { "\($0)" } ?? "")")
        // the digest tells vocabularies of one size apart
        var vocabulary = SyntheticDataset.make().vocabulary
        let before = VocabularyDigest.of(vocabulary)
        vocabulary.swapAt(10, 11)
        XCTAssertNotEqual(VocabularyDigest.of(vocabulary), before)
        XCTAssertEqual(before.count, 16)
    }
}
