import Foundation
import KELMData

/// The committed tokenizer fixture (`Fixtures/`, written by `Tests/Fixtures/make_tokenizer_fixture.py`).
enum WordPieceFixture {
    struct Case {
        var kind: String
        var text: String
        /// The pieces and ids of transformers' default (`tokenizers`-backed) BertTokenizer.
        var tokens: [String]
        var ids: [Int32]
        /// Code-point spans of the pieces by that tokenizer.
        var offsets: [Range<Int>]?
        /// Where the former pure-Python tokenizer gives other pieces: those.
        var legacyTokens: [String]?
    }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    /// The bert-base-uncased `vocab.txt` (30,522 tokens).
    static let vocabularyPath = directory.appendingPathComponent("vocab.txt").path
    static let casesPath = directory.appendingPathComponent("wordpiece_cases.jsonl").path

    struct FixtureError: Error, CustomStringConvertible {
        var description: String
    }

    /// Every case of `wordpiece_cases.jsonl`, in file order.
    static func cases() throws -> [Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: casesPath))
        var out: [Case] = []
        for (number, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() {
            guard let object = try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
                  let kind = object["kind"] as? String, let text = object["text"] as? String,
                  let tokens = object["tokens"] as? [String], let ids = object["ids"] as? [Int]
            else {
                throw FixtureError(description: "\(casesPath) line \(number + 1): not a fixture case")
            }
            var offsets: [Range<Int>]?
            if let pairs = object["offsets"] as? [[Int]] {
                offsets = try pairs.map { pair in
                    guard pair.count == 2, pair[0] <= pair[1] else {
                        throw FixtureError(description: "\(casesPath) line \(number + 1): bad offset \(pair)")
                    }
                    return pair[0]..<pair[1]
                }
            }
            out.append(Case(kind: kind, text: text, tokens: tokens, ids: ids.map { Int32($0) }, offsets: offsets,
                            legacyTokens: object["legacy_tokens"] as? [String]))
        }
        return out
    }

    static func tokenizer() throws -> WordPieceTokenizer {
        try WordPieceTokenizer(vocabularyFile: vocabularyPath)
    }

    /// `text` with every non-printable-ASCII scalar written as `\u{…}`, for failure messages.
    static func escaped(_ text: String) -> String {
        var out = ""
        for s in text.unicodeScalars {
            if s.value >= 0x20 && s.value < 0x7F {
                out.unicodeScalars.append(s)
            } else {
                out += "\\u{\(String(s.value, radix: 16, uppercase: true))}"
            }
        }
        return out
    }
}
