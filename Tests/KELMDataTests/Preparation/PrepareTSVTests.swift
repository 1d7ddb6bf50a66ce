import Foundation
@testable import KELMData
import XCTest

/// `prepare tsv` on the example of docs/data.md, end to end.
final class PrepareTSVTests: XCTestCase {
    func prepare(corpus: String = "corpus.txt", _ configure: (inout PrepareOptions) -> Void = { _ in }) throws -> (PrepareSummary, DatasetFile) {
        var options = PrepareOptions()
        configure(&options)
        let out = try temporaryDirectory(self).appendingPathComponent("data")
        let summary = try DatasetPreparation.prepareTSV(DataFixtures.exampleFiles(corpus: corpus), vocabulary: DataFixtures.vocabulary,
                                                        options: options, outputDirectory: out.path)
        let file = try DatasetFile(path: out.path)
        addTeardownBlock { XCTAssertNoThrow(try file.close()) }
        return (summary, file)
    }

    func words(_ ids: [Int32]) throws -> [String] {
        let tokenizer = try DataFixtures.tokenizer()
        return ids.map { tokenizer.token(for: $0) ?? "?" }
    }

    func testSegmentsMentionsAndSummary() throws {
        let (summary, file) = try prepare()
        XCTAssertEqual(summary.entities, 8)
        XCTAssertEqual(summary.relations, 5)
        XCTAssertEqual(summary.categories, 3)
        XCTAssertEqual(summary.triples, [.train: 10, .valid: 0, .test: 0], "1% of 10 rounds to 0")
        XCTAssertEqual(summary.segments, [.train: 6, .valid: 0, .test: 0])
        XCTAssertEqual(file.segmentCount(.train), 6)
        let first = try file.segment(0, split: .train)
        XCTAssertEqual(try words(first.tokens), ["[CLS]", "the", "dog", "chased", "the", "cat", "through", "the", "streets", "of", "paris", ".", "[SEP]"])
        XCTAssertEqual(first.wordStarts, Array(repeating: 1, count: 13))
        XCTAssertEqual(first.mentions, [2, 3, 0, 5, 6, 1, 10, 11, 5], "dog, cat, Paris (token start, end, entity)")
        XCTAssertEqual(first.sourceEntity, -1)
        // Longest match: "grey wolf" and "domestic dog" rather than "dog".
        XCTAssertEqual(try file.segment(1, split: .train).mentions, [2, 4, 4, 10, 12, 0])
        XCTAssertEqual(try file.segment(2, split: .train).mentions, [2, 4, 1, 6, 7, 0, 9, 10, 2])
        // "hound" is an alias of Q1 and Q8: the lowest entity id (Q1) wins.
        XCTAssertEqual(try file.segment(4, split: .train).mentions, [2, 3, 0, 5, 6, 0])
        XCTAssertEqual(summary.mentionsPerSegment, Double(3 + 2 + 3 + 2 + 2 + 3) / 6, accuracy: 1e-12)
        XCTAssertEqual(summary.segmentsWithMentions, 1)
        // Segment 0: dog, cat, Paris linked; mammal and pet are adjacent to dog and cat.
        XCTAssertGreaterThanOrEqual(summary.largestSubgraphNodes, 6)
        XCTAssertEqual(summary.maxNodes, 64)
        XCTAssertTrue(summary.outputFile.hasSuffix("data/dataset.h5"))
        for line in ["entities: 8", "relations: 5", "segments: train 6, valid 0, test 0", "triples: train 10, valid 0, test 0"] {
            XCTAssertTrue(summary.description.contains(line), line)
        }
    }

    func testDescriptionsAndSpans() throws {
        let (_, file) = try prepare()
        let (pointer, tokens, spans) = try file.descriptions()
        func description(_ e: Int) throws -> [String] { try words(Array(tokens[Int(pointer[e])..<Int(pointer[e + 1])])) }
        XCTAssertEqual(try description(0).prefix(4), ["[CLS]", "the", "dog", "is"])
        XCTAssertEqual(try description(0).last, "[SEP]")
        XCTAssertEqual(Array(spans[0..<2]), [2, 2], "\"dog\" at token 2")
        XCTAssertEqual(Array(spans[2..<4]), [2, 3], "\"house cat\", tokens 2…3")
        XCTAssertEqual(Array(spans[6..<8]), [1, 1], "no name of Q4 (pet) in its description")
        XCTAssertEqual(Array(spans[14..<16]), [10, 10], "Q8: the alias \"hound\" at token 10")
        // Cut to 6 tokens: "[CLS] a dog bred for [SEP]" loses "hound".
        let (_, cut) = try prepare { $0.descriptionTokens = 6 }
        let (cutPointer, _, cutSpans) = try cut.descriptions()
        XCTAssertEqual(cutPointer[8] - cutPointer[7], 6)
        XCTAssertEqual(Array(cutSpans[14..<16]), [1, 1])
        XCTAssertEqual(Array(cutSpans[2..<4]), [2, 3])
    }

    func testTruncationToMaxTokens() throws {
        let (_, file) = try prepare { $0.maxTokens = 5 }
        let first = try file.segment(0, split: .train)
        XCTAssertEqual(try words(first.tokens), ["[CLS]", "the", "dog", "chased", "[SEP]"])
        XCTAssertEqual(first.mentions, [2, 3, 0], "mentions beyond the cut are dropped")
        XCTAssertEqual(file.maxTokens, 5)
    }

    func testJSONLMentionsSourceAndCodePoints() throws {
        let (_, file) = try prepare(corpus: "corpus.jsonl")
        XCTAssertEqual(file.segmentCount(.train), 4)
        let paris = try file.segment(0, split: .train)
        XCTAssertEqual(paris.mentions, [1, 2, 5, 6, 7, 6])
        let wolf = try file.segment(1, split: .train)
        XCTAssertEqual(wolf.sourceEntity, 4)
        XCTAssertEqual(wolf.mentions, [2, 3, 4, 6, 7, 0], "linked: no mentions key")
        XCTAssertEqual(try file.segment(2, split: .train).mentions, [], "explicitly no mentions")
        let cafe = try file.segment(3, split: .train)
        XCTAssertEqual(try words(cafe.tokens), ["[CLS]", "cafe", "au", "lai", "##t", "in", "zurich", ":", "the", "dog", "waits", ".", "[SEP]"])
        XCTAssertEqual(cafe.wordStarts, [1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(cafe.mentions, [9, 10, 0], "code points 28..<31 are the word piece \"dog\"")
    }

    func testSplitsAreDeterministicAndDisjoint() throws {
        let configure: (inout PrepareOptions) -> Void = {
            $0.splits.validSegments = 0.2
            $0.splits.testSegments = 0.2
            $0.splits.validTriples = 0.1
            $0.splits.testTriples = 0.1
        }
        let (summary, a) = try prepare(configure)
        let (_, b) = try prepare(configure)
        XCTAssertEqual(summary.segments, [.train: 4, .valid: 1, .test: 1])
        for split in DataSplit.allCases {
            XCTAssertEqual(a.segmentCount(split), b.segmentCount(split))
            for i in 0..<a.segmentCount(split) { XCTAssertEqual(try a.segment(i, split: split), try b.segment(i, split: split)) }
            XCTAssertEqual(try a.triples(split), try b.triples(split))
        }
        let train = try a.triples(.train), held = try a.triples(.valid) + a.triples(.test)
        XCTAssertFalse(held.isEmpty)
        for triple in held { XCTAssertFalse(a.trainingGraph.connected(triple.head, triple.tail), "\(triple)") }
        XCTAssertEqual(a.trainingGraph, Adjacency(nodeCount: 8, relationCount: 5, triples: train))
    }
}
