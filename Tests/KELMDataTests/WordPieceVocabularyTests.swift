import Foundation
import KELMData
import XCTest

final class WordPieceVocabularyTests: XCTestCase {
    private var directory: URL!

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-vocab-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(at: directory)
    }

    private let specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

    private func write(_ bytes: [UInt8], name: String = "vocab.txt") throws -> String {
        let url = directory.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url.path
    }

    private func write(_ text: String) throws -> String {
        try write(Array(text.utf8))
    }

    private func loadError(_ path: String) -> VocabularyError? {
        do {
            _ = try WordPieceVocabulary(contentsOfFile: path)
            return nil
        } catch let error as VocabularyError {
            return error
        } catch {
            XCTFail("unexpected error \(error)")
            return nil
        }
    }

    func testLoadsIdsByLine() throws {
        let path = try write((specials + ["hello", "##lo", "wor", "##ld"]).joined(separator: "\n") + "\n")
        let tokenizer = try WordPieceTokenizer(vocabularyFile: path)
        XCTAssertEqual(tokenizer.vocabularySize, 9)
        XCTAssertEqual(tokenizer.vocabulary.source, path)
        XCTAssertEqual(tokenizer.maskID, 4)
        XCTAssertEqual(tokenizer.id(for: "##ld"), 8)
        XCTAssertEqual(tokenizer.tokenize("Hello world"), ["hello", "wor", "##ld"])
        XCTAssertEqual(tokenizer.encode("hellolo"), [5, 6])
        XCTAssertEqual(tokenizer.encode("hellox"), [1])
    }

    /// Lines end with LF, CRLF or CR (Python's universal newlines); a last line without a newline counts.
    func testLineEndings() throws {
        let path = try write("[PAD]\r\n[UNK]\r[CLS]\n[SEP]\r\n\r\n[MASK]")
        let vocabulary = try WordPieceVocabulary(contentsOfFile: path)
        XCTAssertEqual(vocabulary.tokens, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "", "[MASK]"])
        XCTAssertEqual(vocabulary.maskID, 5)
    }

    /// Tokens are compared code point by code point (as Python compares str), not by canonical equivalence.
    func testCanonicallyEquivalentTokensAreDistinct() throws {
        let vocabulary = try WordPieceVocabulary(tokens: specials + ["caf\u{E9}", "cafe\u{301}"])
        XCTAssertEqual(vocabulary.id(for: "caf\u{E9}"), 5)
        XCTAssertEqual(vocabulary.id(for: "cafe\u{301}"), 6)
    }

    func testUnreadableFile() throws {
        let missing = directory.appendingPathComponent("absent.txt").path
        guard case let .unreadable(path, _)? = loadError(missing) else { return XCTFail("expected .unreadable") }
        XCTAssertEqual(path, missing)
        XCTAssertTrue(VocabularyError.unreadable(path: missing, reason: "x").description.contains(missing))
        guard case .unreadable? = loadError(directory.path) else { return XCTFail("a directory is unreadable") }
    }

    func testInvalidUTF8NamesTheLine() throws {
        var bytes = Array((specials + ["ok"]).joined(separator: "\n").utf8) + [0x0A]
        bytes += [0x62, 0xC3, 0x28, 0x0A] // "b" + a truncated two-byte sequence, line 7
        let path = try write(bytes)
        let error = loadError(path)
        XCTAssertEqual(error, .invalidUTF8(path: path, line: 7))
        XCTAssertEqual(error?.description, "vocabulary \(path) line 7: invalid UTF-8")
    }

    func testDuplicateToken() throws {
        let path = try write((specials + ["a", "b", "a"]).joined(separator: "\n"))
        let error = loadError(path)
        XCTAssertEqual(error, .duplicateToken(path: path, token: "a", line: 8, firstLine: 6))
        XCTAssertEqual(error?.description, "vocabulary \(path) line 8: duplicate token \"a\" (first on line 6)")
    }

    func testMissingSpecialTokens() throws {
        let path = try write("[PAD]\n[UNK]\n[SEP]\nhello\n")
        XCTAssertEqual(loadError(path), .missingSpecialTokens(path: path, missing: ["[CLS]", "[MASK]"]))
        let empty = try write([], name: "empty.txt")
        XCTAssertEqual(loadError(empty), .missingSpecialTokens(path: empty, missing: specials))
        XCTAssertThrowsError(try WordPieceVocabulary(tokens: ["[pad]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    }

    /// A continuation is only tried after the first piece; `##` alone never matches.
    func testGreedyLongestMatchFirst() throws {
        let vocabulary = try WordPieceVocabulary(tokens: specials + ["un", "una", "##ff", "##able", "##a", "##", "b", "##b"])
        let tokenizer = WordPieceTokenizer(vocabulary: vocabulary)
        XCTAssertEqual(tokenizer.tokenize("unaffable"), ["una", "##ff", "##able"])
        XCTAssertEqual(tokenizer.tokenize("unaffablex"), ["[UNK]"])
        XCTAssertEqual(tokenizer.tokenize("bbb ab"), ["b", "##b", "##b", "[UNK]"])
        XCTAssertEqual(tokenizer.tokenize("b##b"), ["b", "[UNK]", "[UNK]", "b"])
    }
}
