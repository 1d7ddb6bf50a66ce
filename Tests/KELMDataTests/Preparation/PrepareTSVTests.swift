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

    /// The invariants of packing (`PackingInvariants`) on `file`, prepared from `corpus`.
    func checkPacking(_ file: DatasetFile, corpus: String, line: UInt = #line) throws -> Int {
        let (kb, texts) = try TSVImport.load(DataFixtures.exampleFiles(corpus: corpus))
        return try PackingInvariants(file: file, corpus: texts, tokenizer: try DataFixtures.tokenizer(),
                                     linker: EntityLinker(entities: kb.entities, preference: kb.linkPreference))
            .check(line: line)
    }

    /// One text per segment (`--pack none`): the texts, their mentions and the summary.
    func testSegmentsMentionsAndSummary() throws {
        let (summary, file) = try prepare { $0.packing = .none }
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
        XCTAssertEqual(first.sourceEntities, [])
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
        for line in ["entities: 8", "relations: 5", "segments: train 6, valid 0, test 0 (--pack none)", "triples: train 10, valid 0, test 0",
                     "texts: 6 (61 word pieces; 0 longer than T − 2 cut into 0 windows, 0 mentions dropped at window boundaries)",
                     "tokens per segment: mean 12.2 of T 128 (9.5% real, the rest padding)"] {
            XCTAssertTrue(summary.description.contains(line), "\(line) in\n\(summary)")
        }
        XCTAssertEqual(file.packing, .none)
        XCTAssertEqual(try checkPacking(file, corpus: "corpus.txt"), 6)
    }

    /// `--pack texts` (the default): the six lines fill one segment `[CLS] line₁ [SEP] line₂ [SEP] …`,
    /// each line's mentions shifted by the lines before it.
    func testTextsArePackedIntoOneSegment() throws {
        let (summary, file) = try prepare()
        let (_, one) = try prepare { $0.packing = .none }
        XCTAssertEqual(file.packing, .texts)
        XCTAssertEqual(summary.segments, [.train: 1, .valid: 0, .test: 0])
        let packed = try file.segment(0, split: .train)
        var tokens: [Int32] = [], mentions: [Int32] = []
        for i in 0..<6 {
            let record = try one.segment(i, split: .train)
            let offset = Int32(tokens.count)  // [CLS] of the packed segment stands where [CLS] of the first one does
            tokens += i == 0 ? record.tokens : Array(record.tokens.dropFirst())
            for (k, value) in record.mentions.enumerated() { mentions.append(k % 3 == 2 ? value : value + offset - (i == 0 ? 0 : 1)) }
        }
        XCTAssertEqual(packed.tokens, tokens)
        XCTAssertEqual(packed.mentions, mentions)
        XCTAssertEqual(try words(Array(packed.tokens.prefix(15))),
                       ["[CLS]", "the", "dog", "chased", "the", "cat", "through", "the", "streets", "of", "paris", ".", "[SEP]", "a", "grey"])
        XCTAssertEqual(Array(packed.mentions[6..<9]), [10, 11, 5], "Paris in the first line")
        XCTAssertEqual(Array(packed.mentions[9..<12]), [14, 16, 4], "\"grey wolf\" at 2…4 of the second line, after 12 tokens")
        XCTAssertEqual(summary.meanSegmentTokens, Double(1 + 61 + 6), accuracy: 1e-12, "[CLS], 61 pieces, six [SEP]")
        XCTAssertEqual(try checkPacking(file, corpus: "corpus.txt"), 1)
        // smaller T: greedy, in corpus order
        for T in [14, 20, 26, 32, 40] {
            let (_, small) = try prepare { $0.maxTokens = T }
            XCTAssertGreaterThan(try checkPacking(small, corpus: "corpus.txt"), 1, "T \(T)")
        }
    }

    func testDescriptionsSpansAndAnchors() throws {
        let (summary, file) = try prepare()
        let d = try file.descriptions()
        func description(_ e: Int) throws -> [String] { try words(Array(d.tokens[Int(d.pointer[e])..<Int(d.pointer[e + 1])])) }
        func anchor(_ e: Int) throws -> [String] { try words(Array(d.anchorTokens[Int(d.anchorPointer[e])..<Int(d.anchorPointer[e + 1])])) }
        XCTAssertEqual(try description(0).prefix(4), ["[CLS]", "the", "dog", "is"])
        XCTAssertEqual(try description(0).last, "[SEP]")
        XCTAssertEqual(Array(d.spans[0..<2]), [2, 2], "\"dog\" at token 2")
        XCTAssertEqual(Array(d.spans[2..<4]), [2, 3], "\"house cat\", tokens 2…3")
        XCTAssertEqual(Array(d.spans[6..<8]), [1, 1], "no name of Q4 (pet) in its description")
        XCTAssertEqual(Array(d.spans[14..<16]), [10, 10], "Q8: the alias \"hound\" at token 10")
        // anchors: Q3 (mammal: "A warm-blooded vertebrate …"), Q4 (pet), Q5 (wolf: "… of the dog family"),
        // Q6 (Paris: "The capital and largest city of France."), Q7 (France)
        XCTAssertEqual(try (0..<8).map(anchor), [[], [], ["mammal", ":"], ["pet", ":"], ["wolf", ":"], ["paris", ":"], ["france", ":"], []])
        XCTAssertEqual(d.anchoredCount, 5)
        XCTAssertTrue(summary.description.contains("descriptions: 5 of 8 name none of their entity's names"), summary.description)
        var buffer = [Int32](repeating: 0, count: 64)
        let pet = d.write(3, anchor: .name, into: &buffer, capacity: 64)
        XCTAssertEqual(try words(Array(buffer[0..<pet.length])), ["[CLS]", "pet", ":", "an", "animal", "kept", "at", "home", "for", "companions", "##hip", ".", "[SEP]"])
        XCTAssertEqual([pet.start, pet.end], [1, 1])
        let cutPet = d.write(3, anchor: .name, into: &buffer, capacity: 5)
        XCTAssertEqual(try words(Array(buffer[0..<cutPet.length])), ["[CLS]", "pet", ":", "an", "[SEP]"])
        let plainPet = d.write(3, anchor: .none, into: &buffer, capacity: 64)
        XCTAssertEqual(try words(Array(buffer[0..<plainPet.length])), try description(3))
        XCTAssertEqual([plainPet.start, plainPet.end], [1, 1])
        let dog = d.write(0, anchor: .name, into: &buffer, capacity: 64)
        XCTAssertEqual(try words(Array(buffer[0..<dog.length])), try description(0), "a named description is unchanged")
        XCTAssertEqual([dog.start, dog.end], [2, 2])
        // Cut to 6 tokens: "[CLS] a dog bred for [SEP]" loses "hound": anchored "hunting dog :"
        let (_, cut) = try prepare { $0.descriptionTokens = 6 }
        let c = try cut.descriptions()
        XCTAssertEqual(c.pointer[8] - c.pointer[7], 6)
        XCTAssertEqual(Array(c.spans[14..<16]), [1, 1])
        XCTAssertEqual(Array(c.spans[2..<4]), [2, 3])
        let hunting = c.write(7, anchor: .name, into: &buffer, capacity: 6)
        XCTAssertEqual(try words(Array(buffer[0..<hunting.length])), ["[CLS]", "hunting", "dog", ":", "a", "[SEP]"])
        XCTAssertEqual([hunting.start, hunting.end], [1, 2], "the name's two pieces")
    }

    /// A text longer than T − 2 pieces becomes consecutive windows, each its own segment: no
    /// piece lost (the old rule cut it at T − 2 pieces); a mention across a cut is dropped.
    func testLongTextsAreCutIntoWindows() throws {
        let (summary, file) = try prepare { $0.maxTokens = 5 }
        XCTAssertEqual(file.maxTokens, 5)
        XCTAssertEqual(try words(try file.segment(0, split: .train).tokens), ["[CLS]", "the", "dog", "chased", "[SEP]"])
        XCTAssertEqual(try words(try file.segment(1, split: .train).tokens), ["[CLS]", "the", "cat", "through", "[SEP]"])
        XCTAssertEqual(try words(try file.segment(3, split: .train).tokens), ["[CLS]", "paris", ".", "[SEP]"])
        XCTAssertEqual(try file.segment(0, split: .train).mentions, [2, 3, 0])
        XCTAssertEqual(try file.segment(3, split: .train).mentions, [1, 2, 5], "Paris, in the text's last window")
        XCTAssertEqual(summary.packingStatistics.windowedTexts, 6)
        XCTAssertEqual(summary.segments[.train], summary.packingStatistics.windows)
        let (_, wide) = try prepare { $0.maxTokens = 6 }
        XCTAssertEqual(try words(try wide.segment(3, split: .train).tokens), ["[CLS]", "a", "grey", "wolf", "is", "[SEP]"])
        XCTAssertEqual(try wide.segment(3, split: .train).mentions, [2, 4, 4], "\"grey wolf\" within the window")
        for (T, file) in [(5, file), (6, wide)] {
            XCTAssertGreaterThan(try checkPacking(file, corpus: "corpus.txt"), 6, "T \(T)")
        }
        let (crossing, _) = try prepare { $0.maxTokens = 4 }
        XCTAssertGreaterThan(crossing.packingStatistics.droppedMentions, 0)
        XCTAssertTrue(crossing.description.contains("mentions dropped at window boundaries"))
    }

    func testJSONLMentionsSourceAndCodePoints() throws {
        let (_, file) = try prepare(corpus: "corpus.jsonl") { $0.packing = .none }
        XCTAssertEqual(file.segmentCount(.train), 6)
        let paris = try file.segment(0, split: .train)
        XCTAssertEqual(paris.mentions, [1, 2, 5, 6, 7, 6])
        let wolf = try file.segment(1, split: .train)
        XCTAssertEqual(wolf.sourceEntities, [4])
        XCTAssertEqual(wolf.mentions, [2, 3, 4, 6, 7, 0], "linked: no mentions key")
        XCTAssertEqual(try file.segment(2, split: .train).mentions, [], "explicitly no mentions")
        let cafe = try file.segment(3, split: .train)
        XCTAssertEqual(try words(cafe.tokens), ["[CLS]", "cafe", "au", "lai", "##t", "in", "zurich", ":", "the", "dog", "waits", ".", "[SEP]"])
        XCTAssertEqual(cafe.wordStarts, [1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1])
        XCTAssertEqual(cafe.mentions, [9, 10, 0], "code points 28..<31 are the word piece \"dog\"")
        XCTAssertEqual(try checkPacking(file, corpus: "corpus.jsonl"), 6)
    }

    /// Packed JSONL: given and linked mentions shifted into place, and the texts' sources
    /// (Q5, Q2, Q5 again) as a list without repeats.
    func testPackedJSONLMentionsAndSources() throws {
        let (_, file) = try prepare(corpus: "corpus.jsonl") { $0.maxTokens = 40 }
        XCTAssertEqual(try checkPacking(file, corpus: "corpus.jsonl"), file.segmentCount(.train))
        let first = try file.segment(0, split: .train)
        XCTAssertEqual(try words(Array(first.tokens.prefix(12))),
                       ["[CLS]", "paris", "is", "the", "capital", "of", "france", ".", "[SEP]", "the", "wolf", "howled"])
        XCTAssertEqual(Array(first.mentions.prefix(12)), [1, 2, 5, 6, 7, 6, 10, 11, 4, 14, 15, 0],
                       "Paris, France, then the second line's linked wolf and dog after 8 tokens")
        XCTAssertEqual(first.sourceEntities, [4], "the second line's source")
        let (_, wide) = try prepare(corpus: "corpus.jsonl")
        XCTAssertEqual(wide.segmentCount(.train), 1)
        XCTAssertEqual(try wide.segment(0, split: .train).sourceEntities, [4, 1], "Q5, Q2 (Q5 again is not repeated)")
        XCTAssertEqual(try checkPacking(wide, corpus: "corpus.jsonl"), 1)
        // windows of the long sixth line at T 12 drop the mentions they cut through
        let (summary, narrow) = try prepare(corpus: "corpus.jsonl") { $0.maxTokens = 12 }
        XCTAssertEqual(try checkPacking(narrow, corpus: "corpus.jsonl"), narrow.segmentCount(.train))
        XCTAssertGreaterThanOrEqual(summary.packingStatistics.windowedTexts, 1)
    }

    /// One line of 10,000 word pieces (words of one and of two pieces): every piece lands in a
    /// window, in order, each window cut at a word start.
    func testTenThousandPieceLine() throws {
        let directory = try temporaryDirectory(self)
        var files = try copyExample(to: directory)
        let line = Array(repeating: "café au lait in zürich", count: 1667).joined(separator: " ")  // 6 pieces each: lai ##t
        files.corpus = try writeFile(directory, "long.txt", "a dog.\n" + line + "\nthe cat.\n")
        let out = directory.appendingPathComponent("data").path
        var options = PrepareOptions()
        options.splits.validSegments = 0
        options.splits.testSegments = 0
        let summary = try DatasetPreparation.prepareTSV(files, vocabulary: DataFixtures.vocabulary, options: options,
                                                        outputDirectory: out)
        let file = try DatasetFile(path: out)
        defer { XCTAssertNoThrow(try file.close()) }
        XCTAssertEqual(summary.packingStatistics.pieces, 3 + 1667 * 6 + 3)
        XCTAssertEqual(summary.packingStatistics.windowedTexts, 1)
        XCTAssertEqual(summary.packingStatistics.windows, 80, "10,002 pieces in windows of at most 126, cut before a word")
        let (kb, _) = try TSVImport.load(files)
        let corpus = try CorpusReader.read(files.corpus, entityIndex: [:])
        let count = try PackingInvariants(file: file, corpus: corpus, tokenizer: try DataFixtures.tokenizer(),
                                          linker: EntityLinker(entities: kb.entities, preference: kb.linkPreference)).check()
        XCTAssertEqual(count, 82, "a dog. | 80 windows | the cat.")
        let tokens = try (0..<count).flatMap { try file.segment($0, split: .train).tokens.dropFirst().dropLast() }
        XCTAssertEqual(tokens.count, 3 + 10_002 + 3, "every piece of the three lines, each segment without its [CLS] and [SEP]")
    }

    func testSplitsAreDeterministicAndDisjoint() throws {
        let configure: (inout PrepareOptions) -> Void = {
            $0.maxTokens = 16
            $0.splits.validSegments = 0.2
            $0.splits.testSegments = 0.2
            $0.splits.validTriples = 0.1
            $0.splits.testTriples = 0.1
        }
        let (summary, a) = try prepare(configure)
        let (_, b) = try prepare(configure)
        XCTAssertEqual(summary.segments, [.train: 4, .valid: 1, .test: 1])
        XCTAssertEqual(try checkPacking(a, corpus: "corpus.txt"), 6)
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
