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
}
