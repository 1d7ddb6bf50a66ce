import Foundation
@testable import KELMData
import XCTest

/// Every kind of bad input gives a `DataError` naming the file and line (or field) and what was
/// expected, and `prepare` leaves no output behind.
final class BadInputTests: XCTestCase {
    /// Runs `prepare tsv` on `files` into a directory that does not exist yet; asserts the error
    /// and that the directory was not created.
    @discardableResult
    func assertPrepareFails(_ files: TSVInputFiles, vocabulary: String = DataFixtures.vocabulary, _ kind: DataError.Kind,
                            file: String, line: Int?, field: String? = nil, mentioning words: [String],
                            sourceFile: StaticString = #filePath, sourceLine: UInt = #line) throws -> DataError? {
        let out = try temporaryDirectory(self).appendingPathComponent("out")
        let error = assertDataError(kind, file: sourceFile, line: sourceLine) {
            try DatasetPreparation.prepareTSV(files, vocabulary: vocabulary, options: PrepareOptions(), outputDirectory: out.path)
        }
        guard let error else { return nil }
        XCTAssertEqual(error.file, file, "\(error)", file: sourceFile, line: sourceLine)
        XCTAssertEqual(error.line, line, "\(error)", file: sourceFile, line: sourceLine)
        if let field { XCTAssertEqual(error.field, field, "\(error)", file: sourceFile, line: sourceLine) }
        for word in words {
            XCTAssertTrue(error.description.contains(word), "\"\(error)\" should mention \(word)", file: sourceFile, line: sourceLine)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path), "no partial output", file: sourceFile, line: sourceLine)
        return error
    }

    func testWrongNumberOfColumns() throws {
        let files = try copyExample(to: try temporaryDirectory(self))
        try (String(contentsOfFile: files.triples, encoding: .utf8) + "Q1\tP1\n").write(toFile: files.triples, atomically: true, encoding: .utf8)
        let error = try assertPrepareFails(files, .wrongColumnCount, file: files.triples, line: 13,
                                           mentioning: ["expected 3 tab-separated columns", "found 2"])
        XCTAssertTrue(error?.description.hasPrefix("\(files.triples):13: ") ?? false)
        // entities: 4 or 5 columns
        let other = try copyExample(to: try temporaryDirectory(self))
        try "Q1\tdog\n".write(toFile: other.entities, atomically: true, encoding: .utf8)
        try assertPrepareFails(other, .wrongColumnCount, file: other.entities, line: 1, mentioning: ["expected 4 to 5", "[category]"])
    }

    func testUnknownEntity() throws {
        let files = try copyExample(to: try temporaryDirectory(self))
        try (String(contentsOfFile: files.triples, encoding: .utf8) + "Q1\tP1\tQ99\n").write(toFile: files.triples, atomically: true, encoding: .utf8)
        try assertPrepareFails(files, .unknownEntity, file: files.triples, line: 13, field: "tail", mentioning: ["Q99", "expected an entity id"])
    }

    func testUnknownRelation() throws {
        let files = try copyExample(to: try temporaryDirectory(self))
        try (String(contentsOfFile: files.triples, encoding: .utf8) + "Q1\tP42\tQ2\n").write(toFile: files.triples, atomically: true, encoding: .utf8)
        try assertPrepareFails(files, .unknownRelation, file: files.triples, line: 13, field: "relation", mentioning: ["P42"])
        let other = try copyExample(to: try temporaryDirectory(self))
        try "P1\tis a\nP2\thas instance\tP9\n".write(toFile: other.relations, atomically: true, encoding: .utf8)
        try assertPrepareFails(other, .unknownRelation, file: other.relations, line: 2, field: "inverse-of", mentioning: ["P9", "symmetric"])
    }

    func testInverseOfAnInverse() throws {
        let files = try copyExample(to: try temporaryDirectory(self))
        try "P1\tis a\nP2\thas instance\tP1\nP3\tx\tP2\n".write(toFile: files.relations, atomically: true, encoding: .utf8)
        try assertPrepareFails(files, .malformed, file: files.relations, line: 3, field: "inverse-of", mentioning: ["not itself an inverse"])
    }

    func testInvalidUTF8() throws {
        let directory = try temporaryDirectory(self)
        let files = try copyExample(to: directory)
        var bytes = Array("First line is fine.\nSecond line has a bad byte: ".utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(" here.\n".utf8)
        try Data(bytes).write(to: URL(fileURLWithPath: files.corpus))
        try assertPrepareFails(files, .invalidUTF8, file: files.corpus, line: 2, mentioning: ["invalid UTF-8", "byte 29"])
    }

    func testMentionSpanOutsideItsText() throws {
        let directory = try temporaryDirectory(self)
        var files = try copyExample(to: directory, corpus: "corpus.jsonl")
        files.corpus = try writeFile(directory, "bad.jsonl", """
            {"text": "Paris is nice.", "mentions": [{"start": 0, "end": 5, "entity": "Q6"}]}
            {"text": "Paris is nice.", "mentions": [{"start": 9, "end": 15, "entity": "Q6"}]}

            """)
        try assertPrepareFails(files, .mentionOutOfRange, file: files.corpus, line: 2, field: "mentions[0]",
                               mentioning: ["9..<15", "14 code points"])
    }

    func testUnknownEntityInAMention() throws {
        let directory = try temporaryDirectory(self)
        var files = try copyExample(to: directory, corpus: "corpus.jsonl")
        files.corpus = try writeFile(directory, "bad.jsonl", #"{"text": "Paris", "mentions": [{"start": 0, "end": 5, "entity": "Q0"}]}"# + "\n")
        try assertPrepareFails(files, .unknownEntity, file: files.corpus, line: 1, field: "mentions[0].entity", mentioning: ["Q0"])
    }

    func testMalformedJSON() throws {
        let directory = try temporaryDirectory(self)
        var files = try copyExample(to: directory, corpus: "corpus.jsonl")
        files.corpus = try writeFile(directory, "bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": 3}\n")
        try assertPrepareFails(files, .malformed, file: files.corpus, line: 2, field: "text", mentioning: ["expected a string"])
    }

    func testEmptyCorpus() throws {
        let directory = try temporaryDirectory(self)
        var files = try copyExample(to: directory)
        files.corpus = try writeFile(directory, "empty.txt", "\n   \n\n")
        try assertPrepareFails(files, .emptyCorpus, file: files.corpus, line: nil, mentioning: ["at least one text segment"])
    }

    func testVocabularyWithoutSpecialTokens() throws {
        let directory = try temporaryDirectory(self)
        let vocabulary = try writeFile(directory, "vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nthe\n")
        try assertPrepareFails(DataFixtures.exampleFiles(), vocabulary: vocabulary, .missingSpecialToken, file: vocabulary,
                               line: nil, mentioning: ["[MASK]", "expected all of [PAD] [UNK] [CLS] [SEP] [MASK]"])
    }

    func testMissingInputFile() throws {
        var files = DataFixtures.exampleFiles()
        files.relations = DataFixtures.example("no-such-relations.tsv")
        try assertPrepareFails(files, .missingFile, file: files.relations, line: nil, mentioning: ["relations file not found"])
    }

    func testDuplicateEntityID() throws {
        let files = try copyExample(to: try temporaryDirectory(self))
        try (String(contentsOfFile: files.entities, encoding: .utf8) + "Q3\tagain\t\t\n").write(toFile: files.entities, atomically: true, encoding: .utf8)
        try assertPrepareFails(files, .duplicate, file: files.entities, line: 9, field: "id", mentioning: ["\"Q3\" is defined twice"])
    }

    func testMissingWordNetFile() throws {
        let directory = try temporaryDirectory(self)
        for name in ["data.noun", "data.verb", "data.adj", "index.noun", "index.verb", "index.adj", "index.adv"] {
            try FileManager.default.copyItem(atPath: DataFixtures.wordNetMini + "/" + name, toPath: directory.appendingPathComponent(name).path)
        }
        let out = try temporaryDirectory(self).appendingPathComponent("out")
        let error = assertDataError(.missingFile) {
            try DatasetPreparation.prepareWordNet(source: directory.path, vocabulary: DataFixtures.vocabulary,
                                                  options: PrepareOptions(), outputDirectory: out.path)
        }
        XCTAssertEqual(error?.file, directory.appendingPathComponent("data.adv").path)
        XCTAssertTrue(error?.description.contains("WordNet database file not found") ?? false)
        XCTAssertFalse(FileManager.default.fileExists(atPath: out.path))
        assertDataError(.missingFile) { try WordNetImport.load(source: directory.appendingPathComponent("nowhere").path) }
    }

    func testMalformedWordNetLine() throws {
        let directory = try temporaryDirectory(self)
        for name in WordNetImport.requiredFiles {
            try FileManager.default.copyItem(atPath: DataFixtures.wordNetMini + "/" + name, toPath: directory.appendingPathComponent(name).path)
        }
        let path = directory.appendingPathComponent("data.adv").path
        try (String(contentsOfFile: path, encoding: .utf8) + "00099999 02 r 01 oddly 0 001 ?? 00011093 r 0000 | in an odd way\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let error = assertDataError(.malformed) { try WordNetImport.load(source: directory.path) }
        XCTAssertEqual(error?.file, path)
        XCTAssertEqual(error?.field, "pointer_symbol")
        XCTAssertNotNil(error?.line)
    }

    func testOptionsOutOfRange() throws {
        var options = PrepareOptions()
        options.maxTokens = 2
        let error = assertDataError(.invalidArgument) {
            try DatasetPreparation.prepareTSV(DataFixtures.exampleFiles(), vocabulary: DataFixtures.vocabulary, options: options,
                                              outputDirectory: try temporaryDirectory(self).appendingPathComponent("out").path)
        }
        XCTAssertEqual(error?.field, "--max-tokens")
    }
}
