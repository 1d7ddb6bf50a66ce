import KELMNumerics
@testable import KELMData
import XCTest

final class WholeWordMaskingTests: XCTestCase {
    /// BERT's layout: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103, vocabulary 1,000.
    let masking = WholeWordMasking(maskToken: 103, vocabularySize: 1_000, specialTokens: [0, 100, 101, 102, 103])
    let special: Set<Int32> = [0, 100, 101, 102, 103]

    func run(_ tokens: [Int32], _ starts: [Int32], item: UInt64, seed: UInt64 = 0) -> (tokens: [Int32], labels: [Int32], masked: Int) {
        var tokens = tokens
        var labels = [Int32](repeating: 7, count: tokens.count)
        var random = RandomStream(RandomKey(seed: seed, purpose: .masking, item: item))
        var words: [(start: Int32, length: Int32)] = []
        let masked = tokens.withUnsafeMutableBufferPointer { t in
            starts.withUnsafeBufferPointer { s in
                labels.withUnsafeMutableBufferPointer { l in masking.mask(tokens: t, wordStarts: s, labels: l, random: &random, words: &words) }
            }
        }
        return (tokens, labels, masked)
    }

    /// A random segment: [CLS], words of 1–3 pieces, sometimes an [UNK], [SEP].
    func segment(_ random: inout SplitMix, words: Int) -> (tokens: [Int32], starts: [Int32], wordSpans: [Range<Int>]) {
        var tokens: [Int32] = [101], starts: [Int32] = [1], spans: [Range<Int>] = []
        for _ in 0..<words {
            if random.next(10) == 0 {
                tokens.append(100)
                starts.append(1)
                continue
            }
            let length = 1 + random.next(3)
            spans.append(tokens.count..<(tokens.count + length))
            for k in 0..<length {
                tokens.append(Int32(1_000 + random.next(20_000)) % 1_000 == 0 ? 1 : Int32(104 + random.next(896)))
                starts.append(k == 0 ? 1 : 0)
            }
        }
        tokens.append(102)
        starts.append(1)
        return (tokens, starts, spans)
    }

    func testBudget() {
        // max(1, ⌊0.15 n + 0.5⌋) in exact arithmetic (0.15 × 30 + 0.5 is exactly 5).
        let expected = [0: 1, 1: 1, 3: 1, 4: 1, 7: 1, 10: 2, 14: 2, 17: 3, 30: 5, 126: 19, 510: 77]
        for (n, budget) in expected { XCTAssertEqual(WholeWordMasking.budget(maskable: n), budget, "n = \(n)") }
    }

    func testSingleTokenWordsMaskExactlyTheBudget() {
        let tokens: [Int32] = [101] + (0..<20).map { Int32(200 + $0) } + [102]
        let starts = [Int32](repeating: 1, count: tokens.count)
        for item in 0..<50 {
            let result = run(tokens, starts, item: UInt64(item))
            XCTAssertEqual(result.masked, 3)
            XCTAssertEqual(result.labels.filter { $0 != -100 }.count, 3)
        }
    }

    func testWholeWordsBudgetAndSpecialTokens() {
        var random = SplitMix(seed: 3)
        for item in 0..<400 {
            let (tokens, starts, spans) = segment(&random, words: 1 + random.next(40))
            let result = run(tokens, starts, item: UInt64(item))
            let maskable = tokens.filter { !special.contains($0) }.count
            let budget = WholeWordMasking.budget(maskable: maskable)
            let labelled = result.labels.indices.filter { result.labels[$0] != -100 }
            XCTAssertEqual(labelled.count, result.masked)
            XCTAssertLessThanOrEqual(result.masked, budget)
            for position in labelled { XCTAssertEqual(result.labels[position], tokens[position], "label = original") }
            for (position, token) in tokens.enumerated() where special.contains(token) {
                XCTAssertEqual(result.labels[position], -100, "special tokens are never masked")
                XCTAssertEqual(result.tokens[position], token)
            }
            for span in spans {
                let count = span.filter { result.labels[$0] != -100 }.count
                XCTAssertTrue(count == 0 || count == span.count, "a word is masked whole or not at all")
            }
            // Skipping: every unmasked word is too long for what was left of the budget, or the budget is full.
            let left = budget - result.masked
            for span in spans where result.labels[span.lowerBound] == -100 {
                XCTAssertGreaterThan(span.count, 0)
                if left >= span.count {
                    XCTFail("item \(item): a word of \(span.count) fits the \(left) left but was not masked")
                }
            }
            for position in 0..<tokens.count where result.labels[position] == -100 {
                XCTAssertEqual(result.tokens[position], tokens[position], "unmasked tokens stay")
            }
        }
    }

    /// Words too long for the budget are skipped: with words of 3, 3, 3, 2, 1 pieces (12
    /// maskable, budget 2) either the 2-piece or the 1-piece word is masked, never a 3-piece one.
    func testAWordThatOverflowsTheBudgetIsSkipped() {
        var tokens: [Int32] = [101], starts: [Int32] = [1]
        for length in [3, 3, 3, 2, 1] {
            for k in 0..<length {
                tokens.append(Int32(300 + tokens.count))
                starts.append(k == 0 ? 1 : 0)
            }
        }
        tokens.append(102)
        starts.append(1)
        var seen = Set<Int>()
        for item in 0..<200 {
            let result = run(tokens, starts, item: UInt64(item))
            XCTAssertTrue(result.masked == 1 || result.masked == 2)
            XCTAssertTrue(result.labels[1...9].allSatisfy { $0 == -100 }, "3-piece words never fit")
            seen.insert(result.masked)
        }
        XCTAssertEqual(seen, [1, 2])
    }

    /// 80% [MASK], 10% random non-special token, 10% unchanged; random tokens uniform over the
    /// vocabulary without the special tokens.
    func testReplacementProportions() {
        var random = SplitMix(seed: 9)
        var mask = 0, unchanged = 0, replaced = 0
        var replacements = [Int](repeating: 0, count: 1_000)
        for item in 0..<6_000 {
            let (tokens, starts, _) = segment(&random, words: 40)
            let result = run(tokens, starts, item: UInt64(item), seed: 5)
            for position in tokens.indices where result.labels[position] != -100 {
                let token = result.tokens[position]
                if token == 103 {
                    mask += 1
                } else if token == tokens[position] {
                    unchanged += 1
                } else {
                    replaced += 1
                    replacements[Int(token)] += 1
                    XCTAssertFalse(special.contains(token))
                }
            }
        }
        let total = Double(mask + unchanged + replaced)
        XCTAssertGreaterThan(total, 50_000)
        XCTAssertEqual(Double(mask) / total, 0.8, accuracy: 0.01)
        XCTAssertEqual(Double(unchanged) / total, 0.1, accuracy: 0.006)
        XCTAssertEqual(Double(replaced) / total, 0.1, accuracy: 0.006)
        for id in special { XCTAssertEqual(replacements[Int(id)], 0) }
        // Uniform: every non-special id can come out, and the counts spread like a uniform draw.
        let nonSpecial = (0..<1_000).filter { !special.contains(Int32($0)) }
        let mean = Double(replaced) / Double(nonSpecial.count)
        let chiSquare = nonSpecial.reduce(0.0) { $0 + pow(Double(replacements[$1]) - mean, 2) / mean }
        XCTAssertLessThan(chiSquare, 1_200, "995 degrees of freedom")
        XCTAssertEqual(masking.nonSpecialToken(0), 1)
        XCTAssertEqual(masking.nonSpecialToken(98), 99)
        XCTAssertEqual(masking.nonSpecialToken(99), 104)
        XCTAssertEqual(masking.nonSpecialToken(994), 999)
    }

    func testDeterministicPerKey() {
        var random = SplitMix(seed: 1)
        let (tokens, starts, _) = segment(&random, words: 30)
        XCTAssertEqual(run(tokens, starts, item: 4).tokens, run(tokens, starts, item: 4).tokens)
        XCTAssertEqual(run(tokens, starts, item: 4).labels, run(tokens, starts, item: 4).labels)
        XCTAssertNotEqual(run(tokens, starts, item: 4).labels, run(tokens, starts, item: 5).labels)
    }

    func testNothingToMask() {
        let result = run([101, 102], [1, 1], item: 0)
        XCTAssertEqual(result.masked, 0)
        XCTAssertEqual(result.labels, [-100, -100])
    }
}
