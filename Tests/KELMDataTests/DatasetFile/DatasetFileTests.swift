import Foundation
import KELMHDF5
@testable import KELMData
import XCTest

final class DatasetFileTests: XCTestCase {
    func testRoundTrip() throws {
        let directory = try temporaryDirectory(self)
        let prepared = SyntheticDataset.make()
        let path = try DatasetWriter.write(prepared, to: directory.path)
        XCTAssertEqual(path, directory.appendingPathComponent("dataset.h5").path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["dataset.h5"], "no temporary file left")
        let file = try DatasetFile(path: directory.path)
        defer { XCTAssertNoThrow(try file.close()) }
        XCTAssertEqual(file.source, "synthetic")
        XCTAssertEqual(file.maxTokens, prepared.maxTokens)
        XCTAssertEqual(file.entityCount, 40)
        XCTAssertEqual(file.relationCount, 3)
        XCTAssertEqual(file.vocabularySize, prepared.vocabulary.count)
        XCTAssertEqual(file.specialTokens, SpecialTokenIDs(pad: 0, unknown: 1, cls: 2, sep: 3, mask: 4))
        XCTAssertEqual(file.trainingGraph, prepared.trainingGraph)
        let table = try XCTUnwrap(prepared.segments[.train])
        XCTAssertEqual(file.segmentCount(.train), table.count)
        XCTAssertEqual(file.segmentCount(.valid), 0)
        for i in 0..<table.count { XCTAssertEqual(try file.segment(i, split: .train), table.record(i)) }
        XCTAssertEqual(try file.triples(.train), prepared.triples.train)
        XCTAssertEqual(try file.triples(.valid), prepared.triples.valid)
        XCTAssertEqual(try file.triples(.test), prepared.triples.test)
        XCTAssertEqual(try file.vocabulary(), prepared.vocabulary)
        assertDataError(.invalidArgument) { try file.segment(table.count, split: .train) }
    }

    func testOverwriteAndBadTargets() throws {
        let directory = try temporaryDirectory(self)
        let prepared = SyntheticDataset.make()
        try DatasetWriter.write(prepared, to: directory.path)
        try DatasetWriter.write(prepared, to: directory.path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory.path), ["dataset.h5"])
        let file = try writeFile(directory, "plain", "x")
        let error = assertDataError(.outputFailed) { try DatasetWriter.write(prepared, to: file) }
        XCTAssertEqual(error?.field, "--out")
    }

    /// A dataset written before packing (format_version 1) is refused with the way out.
    func testEarlierFormatIsRefusedWithWhatToDo() throws {
        let directory = try temporaryDirectory(self)
        let path = try DatasetWriter.write(SyntheticDataset.make(), to: directory.path)
        let h5 = try HDF5File.open(path, mode: .readWrite)
        try h5.setAttribute("format_version", 1)
        try h5.close()
        let error = assertDataError(.invalidArgument) { try DatasetFile(path: path) }
        XCTAssertEqual(error?.field, "format_version")
        XCTAssertEqual(error?.file, path)
        XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains("run `kelm-dist prepare` again"), "\(error.map { "\($0)" } ?? "")")
        let packed = try DatasetWriter.write(SyntheticDataset.make(), to: directory.appendingPathComponent("packing").path)
        let other = try HDF5File.open(packed, mode: .readWrite)
        try other.setAttribute("packing", "sentences")
        try other.close()
        XCTAssertEqual(assertDataError(.invalidArgument) { try DatasetFile(path: packed) }?.field, "packing")
    }

    func testNotADataset() throws {
        let directory = try temporaryDirectory(self)
        let path = directory.appendingPathComponent("other.h5").path
        let h5 = try HDF5File.create(path)
        try h5.setAttribute("format", "kelm-dist-checkpoint")
        try h5.close()
        let error = assertDataError(.invalidArgument) { try DatasetFile(path: path) }
        XCTAssertEqual(error?.field, "format")
        assertDataError(.missingFile) { try DatasetFile(path: directory.appendingPathComponent("none").path) }
    }
    /// A dataset file wrong inside with its checksums matching (values HDF5 reads without
    /// complaint, as a writer bug would leave them) is an error naming the dataset, not an
    /// out-of-range read later (issue 11: corrupt dataset files). Damage the checksums catch:
    /// DatasetChecksumTests.
    func testInconsistentDescriptionsAndTriplesAreNamed() throws {
        let directory = try temporaryDirectory(self)
        let ok = directory.appendingPathComponent("ok").path
        _ = try DatasetPreparation.prepareTSV(DataFixtures.exampleFiles(), vocabulary: DataFixtures.vocabulary, options: PrepareOptions(),
                                              outputDirectory: ok)
        let original = ok + "/" + DatasetLayout.fileName
        let entities = try DatasetFile(path: original).entityCount
        let damages: [(field: String, expected: String, damage: (HDF5File) throws -> Void)] = [
            ("/descriptions/tokens", "token 5 has id 999999; expected ids below", { f in
                try f.withDataset("/descriptions/tokens") { ds in var v = try ds.readInt32s(); v[5] = 999_999; try reseal(ds, v) } }),
            ("/descriptions/token_ptr", "expected \(entities + 1) from 0 to", { f in
                try f.withDataset("/descriptions/token_ptr") { ds in var v = try ds.readInt64s(); v[entities] += 7; try reseal(ds, v) } }),
            ("/descriptions/token_ptr", "entity 2 has a description of", { f in
                try f.withDataset("/descriptions/token_ptr") { ds in var v = try ds.readInt64s(); v[3] = v[2]; try reseal(ds, v) } }),
            ("/descriptions/span", "entity 1 has the span (-4, ", { f in
                try f.withDataset("/descriptions/span") { ds in var v = try ds.readInt32s(); v[2] = -4; try reseal(ds, v) } }),
            ("/kg/triples/train", "triple 0 is (0, 77, ", { f in
                try f.withDataset("/kg/triples/train") { ds in var v = try ds.readInt32s(); v[0] = 0; v[1] = 77; try reseal(ds, v) } }),
        ]
        for (n, d) in damages.enumerated() {
            let path = directory.appendingPathComponent("damaged-\(n).h5").path
            try FileManager.default.copyItem(atPath: original, toPath: path)
            let h5 = try HDF5File.open(path, mode: .readWrite)
            try d.damage(h5)
            try h5.close()
            let file = try DatasetFile(path: path)
            defer { XCTAssertNoThrow(try file.close()) }
            let error = assertDataError(.invalidArgument) {
                _ = try file.descriptions()
                _ = try file.triples(.train)
            }
            XCTAssertEqual(error?.field, d.field, "\(n)")
            XCTAssertEqual(error?.file, path)
            XCTAssertTrue("\(error.map { "\($0)" } ?? "")".contains(d.expected), "\(n): \(error.map { "\($0)" } ?? "")")
        }
    }
    /// Found by InputFuzzTests: a huge entity_count overflowed a size computation (a trap).
    func testCountsOutOfRangeAreNamed() throws {
        let directory = try temporaryDirectory(self)
        let original = try DatasetWriter.write(SyntheticDataset.make(), to: directory.appendingPathComponent("ok").path)
        for (n, (name, value)) in [("entity_count", Int64.max), ("relation_count", 0), ("max_tokens", -3), ("description_tokens", Int64(1) << 40)].enumerated() {
            let path = directory.appendingPathComponent("count-\(n).h5").path
            try FileManager.default.copyItem(atPath: original, toPath: path)
            let h5 = try HDF5File.open(path, mode: .readWrite)
            try h5.setAttribute(name, value)
            try h5.close()
            let error = assertDataError(.invalidArgument) { try DatasetFile(path: path) }
            XCTAssertEqual(error?.field, name)
            XCTAssertEqual(error?.message.hasPrefix("is \(value); expected "), true, error?.message ?? "")
        }
        // found by InputFuzzTests too: a plausible but wrong relation_count built a model of 100000
        // relations (minutes per step); the counts must match the entity and relation tables
        for (n, (name, value, table)) in [("entity_count", 41, "/entities/name"), ("relation_count", 100_000, "/relations/name")].enumerated() {
            let path = directory.appendingPathComponent("table-\(n).h5").path
            try FileManager.default.copyItem(atPath: original, toPath: path)
            let h5 = try HDF5File.open(path, mode: .readWrite)
            try h5.setAttribute(name, value)
            try h5.close()
            let error = assertDataError(.invalidArgument) { try DatasetFile(path: path) }
            XCTAssertEqual(error?.field, name)
            XCTAssertEqual(error?.message.hasPrefix("is \(value), but \(table) holds "), true, error?.message ?? "")
        }
    }
}


