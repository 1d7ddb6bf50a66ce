import Foundation
import KELMData
import XCTest

final class WordPieceTokenizerTests: XCTestCase {
    /// Every fixture string gives exactly the pieces and ids of Hugging Face's default BertTokenizer.
    func testFixtureMatchesTheDefaultTokenizer() throws {
        let tokenizer = try WordPieceFixture.tokenizer()
        let cases = try WordPieceFixture.cases()
        XCTAssertGreaterThanOrEqual(cases.count, 300)
        var failures = 0
        for (index, c) in cases.enumerated() {
            let tokens = tokenizer.tokenize(c.text)
            let ids = tokenizer.encode(c.text)
            if tokens != c.tokens || ids != c.ids {
                failures += 1
                XCTFail("""
                    case \(index + 1) [\(c.kind)] "\(WordPieceFixture.escaped(c.text))"
                      expected \(c.tokens.map(WordPieceFixture.escaped)) \(c.ids)
                      actual   \(tokens.map(WordPieceFixture.escaped)) \(ids)
                    """)
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) fixture strings differ from transformers' BertTokenizer")
    }

    /// The inputs on which the former pure-Python tokenizer differs from the default one stay in
    /// the fixture (both answers): we give the default's. A word-final capital sigma is lower-cased
    /// without Python's Final_Sigma rule (`ΣΑΣ` → `σ ##α ##σ`, not `##ς`); an unassigned code point
    /// is kept (its word becomes `[UNK]`); a chunk spelling `[MASK]` only after cleaning or NFC is
    /// not the special token.
    func testInputsWhereThePythonTokenizerDiffers() throws {
        let tokenizer = try WordPieceFixture.tokenizer()
        let differing = try WordPieceFixture.cases().filter { $0.legacyTokens != nil }
        XCTAssertGreaterThanOrEqual(differing.count, 10)
        XCTAssertTrue(differing.contains { $0.kind == "greek" })
        XCTAssertTrue(differing.contains { $0.kind == "special_tokens" })
        XCTAssertTrue(differing.contains { $0.kind == "control" })
        for c in differing {
            XCTAssertEqual(tokenizer.tokenize(c.text), c.tokens, WordPieceFixture.escaped(c.text))
            XCTAssertNotEqual(tokenizer.tokenize(c.text), c.legacyTokens)
        }
        XCTAssertEqual(tokenizer.tokenize("ΣΑΣ"), ["σ", "##α", "##σ"])
        XCTAssertEqual(tokenizer.tokenize("σοφός ΣΟΦΟΣ"), ["σ", "##ο", "##φ", "##ος", "σ", "##ο", "##φ", "##ο", "##σ"])
    }

    func testVocabularyAndSpecialTokens() throws {
        let tokenizer = try WordPieceFixture.tokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 30522)
        XCTAssertEqual(tokenizer.padID, 0)
        XCTAssertEqual(tokenizer.unknownID, 100)
        XCTAssertEqual(tokenizer.clsID, 101)
        XCTAssertEqual(tokenizer.sepID, 102)
        XCTAssertEqual(tokenizer.maskID, 103)
        for special in SpecialToken.allCases {
            XCTAssertEqual(tokenizer.token(for: tokenizer.id(for: special)), special.rawValue)
            XCTAssertEqual(tokenizer.id(for: special.rawValue), tokenizer.id(for: special))
        }
        XCTAssertEqual(tokenizer.id(for: "the"), 1996)
        XCTAssertEqual(tokenizer.token(for: 1996), "the")
        XCTAssertEqual(tokenizer.id(for: "##ing"), 2075)
        XCTAssertNil(tokenizer.id(for: "The"))
        XCTAssertNil(tokenizer.token(for: -1))
        XCTAssertNil(tokenizer.token(for: 30522))
        XCTAssertEqual(tokenizer.vocabulary.tokens.count, 30522)
        // Ids round-trip through tokens for the whole vocabulary.
        for id in Int32(0)..<Int32(tokenizer.vocabularySize) {
            guard let token = tokenizer.token(for: id), tokenizer.id(for: token) == id else {
                return XCTFail("id \(id) does not round-trip")
            }
        }
        XCTAssertEqual(tokenizer.tokenize("unaffable"), ["una", "##ffa", "##ble"])
    }

    func testEmptyAndBlankTexts() throws {
        let tokenizer = try WordPieceFixture.tokenizer()
        for text in ["", " ", "\t\n\r", "\u{3000}\u{00A0}", "\u{200B}", "\u{0000}", "\u{0301}"] {
            XCTAssertEqual(tokenizer.encode(text), [], WordPieceFixture.escaped(text))
            XCTAssertEqual(tokenizer.encodeWithOffsets(text).count, 0)
        }
    }

    func testWordLengthLimitCountsNormalisedCodePoints() throws {
        let tokenizer = try WordPieceFixture.tokenizer()
        let unk = tokenizer.unknownID
        let x100 = String(repeating: "x", count: 100)
        XCTAssertNotEqual(tokenizer.encode(x100), [unk])
        XCTAssertEqual(tokenizer.encode(x100 + "x"), [unk])
        // 100 "e" + combining acute: 200 code points in, 100 after accent stripping.
        let accented = String(repeating: "e\u{0301}", count: 100)
        XCTAssertEqual(accented.unicodeScalars.count, 200)
        XCTAssertEqual(tokenizer.encode(accented), tokenizer.encode(String(repeating: "e", count: 100)))
        // Hangul syllables decompose into 2–3 jamo each: 34 × 3 > 100.
        XCTAssertEqual(tokenizer.encode(String(repeating: "각", count: 34)), [unk])
    }

    /// Piece spans on hand-checked examples (code-point offsets into the original text).
    func testOffsets() throws {
        let tokenizer = try WordPieceFixture.tokenizer()
        func spans(_ text: String) -> [String] {
            tokenizer.encodeWithOffsets(text).pieces.map { piece in
                "\(tokenizer.token(for: piece.id) ?? "?")@\(piece.codePoints.lowerBound)-\(piece.codePoints.upperBound)"
                    + (piece.startsWord ? "" : "+")
            }
        }
        XCTAssertEqual(spans("Unaffable dogs."), ["una@0-3", "##ffa@3-6+", "##ble@6-9+", "dogs@10-14", ".@14-15"])
        // Precomposed and decomposed accents; the stripped mark goes with the letter before it.
        XCTAssertEqual(spans("Café!"), ["cafe@0-4", "!@4-5"])
        XCTAssertEqual(spans("Cafe\u{0301}!"), ["cafe@0-4", "!@5-6"])
        // [UNK] spans its word; dropped characters belong to no piece.
        XCTAssertEqual(spans("a ☃\u{200B}☃ b"), ["a@0-1", "[UNK]@2-5", "b@6-7"])
        XCTAssertEqual(spans("zero\u{200B}width"), ["zero@0-4", "##wi@5-7+", "##dt@7-9+", "##h@9-10+"])
        XCTAssertEqual(spans("a\u{0301}\u{0300}b"), ["ab@0-4"])
        // Special tokens span their spelling; CJK characters are words of their own.
        XCTAssertEqual(spans("hi[MASK]中文"), ["hi@0-2", "[MASK]@2-8", "中@8-9", "文@9-10"])
        // Code points, not UTF-16 units or grapheme clusters: an emoji is one code point.
        XCTAssertEqual(spans("😀 dog"), ["[UNK]@0-1", "dog@2-5"])
        XCTAssertEqual(spans("👍🏽 dog"), ["[UNK]@0-2", "dog@3-6"])
        // İ lower-cases to i + U+0307, which accent stripping removes.
        XCTAssertEqual(spans("İstanbul"), ["istanbul@0-8"])
        // A word over the limit is one [UNK] over the whole word.
        XCTAssertEqual(spans("x " + String(repeating: "y", count: 101) + " z"), ["x@0-1", "[UNK]@2-103", "z@104-105"])
    }

    /// On every fixture string: the spans are those of Hugging Face's default tokenizer; spans lie in the text, in order; word starts are exactly the pieces without
    /// `##`; and on ASCII text each piece spells its span (lower-cased).
    func testOffsetsOnFixture() throws {
        let tokenizer = try WordPieceFixture.tokenizer()
        var compared = 0
        let cases = try WordPieceFixture.cases()
        for c in cases {
            let scalars = Array(c.text.unicodeScalars)
            let encoding = tokenizer.encodeWithOffsets(c.text)
            XCTAssertEqual(encoding.ids, c.ids)
            if let offsets = c.offsets {
                compared += 1
                XCTAssertEqual(encoding.pieces.map(\.codePoints), offsets,
                               "[\(c.kind)] \(WordPieceFixture.escaped(c.text)) \(c.tokens)")
            }
            var previous = 0..<0
            for (k, piece) in encoding.pieces.enumerated() {
                let token = tokenizer.token(for: piece.id) ?? ""
                let label = "[\(c.kind)] \(WordPieceFixture.escaped(c.text)) piece \(k) \(token)"
                XCTAssertFalse(piece.codePoints.isEmpty, label)
                XCTAssertLessThanOrEqual(piece.codePoints.upperBound, scalars.count, label)
                XCTAssertLessThanOrEqual(previous.lowerBound, piece.codePoints.lowerBound, label)
                XCTAssertLessThanOrEqual(previous.upperBound, piece.codePoints.upperBound, label)
                // `##` compared as code points: "##" + a combining mark is one Swift Character.
                let continuation = token.unicodeScalars.starts(with: "##".unicodeScalars)
                XCTAssertEqual(piece.startsWord, !continuation, label)
                if piece.startsWord && k > 0 {
                    XCTAssertLessThanOrEqual(previous.upperBound, piece.codePoints.lowerBound, label)
                }
                let isASCII = scalars.allSatisfy { $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F }
                if isASCII && piece.id != tokenizer.unknownID {
                    let original = String(String.UnicodeScalarView(scalars[piece.codePoints]))
                    let spelled = continuation ? String(token.dropFirst(2)) : token
                    let expected = SpecialToken(rawValue: original) != nil ? original : original.lowercased()
                    XCTAssertEqual(spelled, expected, label)
                }
                previous = piece.codePoints
            }
        }
        XCTAssertEqual(compared, cases.count, "every case has the default tokenizer's spans")
    }

    /// Entity mentions (code-point spans) map to the pieces they overlap.
    func testMentionMapping() throws {
        let tokenizer = try WordPieceFixture.tokenizer()
        let text = "The Ångström unit, Zürich's café."
        let encoding = tokenizer.encodeWithOffsets(text)
        func pieces(_ start: Int, _ end: Int) -> [String] {
            guard let r = encoding.pieceRange(overlapping: start..<end) else { return [] }
            return encoding.pieces[r].map { tokenizer.token(for: $0.id) ?? "?" }
        }
        XCTAssertEqual(pieces(4, 12), ["ang", "##strom"])        // "Ångström"
        XCTAssertEqual(pieces(4, 17), ["ang", "##strom", "unit"])
        XCTAssertEqual(pieces(19, 25), ["zurich"])               // "Zürich"
        XCTAssertEqual(pieces(19, 27), ["zurich", "'", "s"])
        XCTAssertEqual(pieces(28, 32), ["cafe"])
        XCTAssertEqual(pieces(6, 7), ["ang"])                    // inside a piece
        XCTAssertEqual(pieces(3, 4), [])                         // a space
        XCTAssertEqual(pieces(5, 5), [])                         // empty
        XCTAssertEqual(encoding.pieceRange(overlapping: 0..<text.unicodeScalars.count), 0..<encoding.count)
        XCTAssertEqual(encoding.startsWord, [true, true, false, true, true, true, true, true, true, true])
    }

    func testTokenizerIsUsableFromSeveralThreads() throws {
        let tokenizer = try WordPieceFixture.tokenizer()
        let cases = try WordPieceFixture.cases()
        let failures = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        defer { failures.deallocate() }
        failures.initialize(repeating: 0, count: 4)
        DispatchQueue.concurrentPerform(iterations: 4) { worker in
            for c in cases where tokenizer.encode(c.text) != c.ids { failures[worker] += 1 }
        }
        XCTAssertEqual((0..<4).map { failures[$0] }, [0, 0, 0, 0])
    }
}
