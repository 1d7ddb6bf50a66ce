import Foundation
import XCTest

/// `kelm-dist debug tokenize` against the tokenizer fixture of KELMDataTests (Python's ids).
final class DebugTokenizeCommandTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("KELMDataTests/Fixtures")
    static let vocab = fixtures.appendingPathComponent("vocab.txt").path

    /// The single-line fixture cases: (text, expected ids).
    private func singleLineCases() throws -> [(String, [Int])] {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent("wordpiece_cases.jsonl"))
        var out: [(String, [Int])] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            let text = try XCTUnwrap(object["text"] as? String)
            let ids = try XCTUnwrap(object["ids"] as? [Int])
            // Lines must survive the trip through stdin: no line breaks inside.
            if text.unicodeScalars.contains(where: { $0 == "\n" || $0 == "\r" }) { continue }
            out.append((text, ids))
        }
        return out
    }

    func testIdsPerLineMatchPython() throws {
        let cases = try singleLineCases()
        XCTAssertGreaterThan(cases.count, 300)
        let input = cases.map(\.0).joined(separator: "\n") + "\n"
        let r = try CommandRunner.run(["debug", "tokenize", "--vocab", Self.vocab], stdin: input)
        XCTAssertEqual(r.status, 0, r.stderr)
        var lines = r.stdout.components(separatedBy: "\n")
        XCTAssertEqual(lines.last, "")
        lines.removeLast()
        XCTAssertEqual(lines.count, cases.count)
        for (line, (text, ids)) in zip(lines, cases) {
            XCTAssertEqual(line, ids.map(String.init).joined(separator: " "), text)
        }
    }

    func testSmallInputAndEmptyLines() throws {
        let r = try CommandRunner.run(["debug", "tokenize", "--vocab", Self.vocab],
                                      stdin: "Hello, world!\n\nCafé [MASK]\n   \nlast line without newline")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "7592 1010 2088 999\n\n7668 103\n\n2197 2240 2302 2047 4179\n")
        let tokens = try CommandRunner.run(["debug", "tokenize", "--vocab", Self.vocab, "--format", "tokens"],
                                           stdin: "Unaffable café\n")
        XCTAssertEqual(tokens.stdout, "una ##ffa ##ble cafe\n")
        let offsets = try CommandRunner.run(["debug", "tokenize", "--vocab", Self.vocab, "--format", "offsets"],
                                            stdin: "Unaffable café\n")
        XCTAssertEqual(offsets.stdout, "14477@0-3 20961@3-6 3468@6-9 7668@10-14\n")
        let none = try CommandRunner.run(["debug", "tokenize", "--vocab", Self.vocab], stdin: "")
        XCTAssertEqual(none.status, 0, none.stderr)
        XCTAssertEqual(none.stdout, "")
    }

    func testMissingVocabularyFails() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-vocab-\(UUID().uuidString).txt").path
        let r = try CommandRunner.run(["debug", "tokenize", "--vocab", missing], stdin: "hello\n")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains(missing), r.stderr)
        XCTAssertEqual(r.stdout, "")
    }
}
