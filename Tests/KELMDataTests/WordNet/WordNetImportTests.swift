import Foundation
@testable import KELMData
import XCTest

/// The WordNet importer on the 17-synset fixture (Fixtures/wordnet-mini, cut from WordNet 3.0).
final class WordNetImportTests: XCTestCase {
    func load() throws -> (KnowledgeBase, [CorpusSegment], [String: Int32]) {
        let (kb, corpus) = try WordNetImport.load(source: DataFixtures.wordNetMini)
        let byName = Dictionary(uniqueKeysWithValues: kb.entities.enumerated().map { ($0.element.name, Int32($0.offset)) })
        return (kb, corpus, byName)
    }

    /// NLTK's names: first lemma, ss_type letter (`s` for satellites), sense number in the index file.
    func testNamesKeysAndForms() throws {
        let (kb, _, byName) = try load()
        XCTAssertEqual(kb.entities.count, 17)
        XCTAssertEqual(Set(byName.keys), [
            "dog.n.01", "canine.n.01", "domestic_animal.n.01", "canis.n.01", "cat.n.01", "frump.n.01", "cad.n.01",
            "hound.n.01", "chase.v.01", "chase.v.02", "hound.v.01", "good.a.01", "bad.a.01", "emergent.s.01",
            "emergent.s.02", "nascent.a.01", "well.r.01",
        ])
        let dog = kb.entities[Int(try XCTUnwrap(byName["dog.n.01"]))]
        XCTAssertEqual(dog.key, "02084071-n")
        XCTAssertEqual(dog.surfaceForms, ["dog", "domestic dog", "Canis familiaris"])
        XCTAssertEqual(kb.categories[Int(dog.category)], "noun.animal")
        XCTAssertEqual(kb.entities[Int(try XCTUnwrap(byName["emergent.s.02"]))].key, "00003553-s")
        XCTAssertEqual(kb.entities[Int(try XCTUnwrap(byName["cad.n.01"]))].surfaceForms,
                       ["cad", "bounder", "blackguard", "dog", "hound", "heel"])
        XCTAssertEqual(kb.categories.count, 45)
    }

    /// Glosses: the definition part is the description; corpus = definition, then examples.
    func testGlossesAndCorpus() throws {
        let (kb, corpus, byName) = try load()
        let nascent = try XCTUnwrap(byName["nascent.a.01"])
        XCTAssertEqual(kb.entities[Int(nascent)].description, "being born or beginning")
        XCTAssertEqual(corpus.filter { $0.sourceEntity == nascent }.map(\.text),
                       ["being born or beginning", "the nascent chicks", "a nascent insurgency"])
        let dog = try XCTUnwrap(byName["dog.n.01"])
        XCTAssertEqual(kb.entities[Int(dog)].description,
                       "a member of the genus Canis (probably descended from the common wolf) that has been domesticated by man since prehistoric times; occurs in many breeds")
        XCTAssertEqual(corpus.filter { $0.sourceEntity == dog }.map(\.text).last, "the dog barked all night")
        XCTAssertTrue(corpus.allSatisfy { $0.mentions == nil && $0.sourceEntity >= 0 })
        // database order: data.noun, data.verb, data.adj (a and s), data.adv, each by offset
        let fileRank: [Character: Int] = ["n": 0, "v": 1, "a": 2, "s": 2, "r": 3]
        let positions = corpus.map { text -> [Int] in
            let key = kb.entities[Int(text.sourceEntity)].key
            return [fileRank[key.last!]!, Int(key.prefix(8))!]
        }
        XCTAssertEqual(positions, positions.sorted { $0.lexicographicallyPrecedes($1) }, "in database order")
        XCTAssertNotEqual(corpus.map(\.sourceEntity), corpus.map(\.sourceEntity).sorted(),
                          "database order is not entity-id order on this data (the test would not tell them apart)")
    }

    func testGlossSplitting() {
        let (definition, examples) = WordNetImport.splitGloss(#"to go; "we went; they stayed"; hence; "it ran" - Shakespeare"#)
        XCTAssertEqual(definition, "to go; hence")
        XCTAssertEqual(examples, ["we went; they stayed", "it ran"])
    }

    /// Reciprocal pointers fold (hyponym into hypernym, member meronym into member holonym),
    /// symmetric ones keep one triple per pair, lexical pointers are lifted to their synsets.
    func testRelations() throws {
        let (kb, _, byName) = try load()
        XCTAssertEqual(kb.relations, ["hypernym", "instance_hypernym", "member_holonym", "substance_holonym", "part_holonym",
                                      "domain_topic", "domain_region", "domain_usage", "antonym", "derivationally_related",
                                      "attribute", "similar_to", "also_see", "verb_group", "entailment", "cause",
                                      "participle_of", "pertainym"])
        func id(_ name: String) throws -> Int32 { try XCTUnwrap(byName[name], name) }
        func relation(_ name: String) throws -> Int32 { Int32(try XCTUnwrap(kb.relations.firstIndex(of: name))) }
        func symmetric(_ a: String, _ r: String, _ b: String) throws -> Triple {
            let (x, y) = (try id(a), try id(b))
            return Triple(head: min(x, y), relation: try relation(r), tail: max(x, y))
        }
        let expected: Set<Triple> = [
            Triple(head: try id("dog.n.01"), relation: try relation("hypernym"), tail: try id("canine.n.01")),
            Triple(head: try id("dog.n.01"), relation: try relation("hypernym"), tail: try id("domestic_animal.n.01")),
            Triple(head: try id("hound.v.01"), relation: try relation("hypernym"), tail: try id("chase.v.01")),
            Triple(head: try id("dog.n.01"), relation: try relation("member_holonym"), tail: try id("canis.n.01")),
            try symmetric("good.a.01", "antonym", "bad.a.01"),
            try symmetric("hound.n.01", "derivationally_related", "hound.v.01"),
            try symmetric("nascent.a.01", "similar_to", "emergent.s.02"),
        ]
        XCTAssertEqual(Set(kb.triples), expected)
        XCTAssertEqual(kb.triples.count, 7)
    }

    /// The most frequent sense (tag counts of cntlist.rev, by sense key) is preferred and, where
    /// the constraints are not cyclic, has the lowest id.
    func testMostFrequentSense() throws {
        let (kb, _, byName) = try load()
        let linker = EntityLinker(entities: kb.entities, preference: kb.linkPreference)
        XCTAssertEqual(linker.entity(for: "dog"), byName["dog.n.01"], "42 tags against 2 (chase.v.01) and fewer")
        XCTAssertEqual(linker.entity(for: "hound"), byName["hound.n.01"])
        XCTAssertEqual(linker.entity(for: "good"), byName["good.a.01"], "190 tags against 9 (well.r.01)")
        XCTAssertEqual(linker.entity(for: "emergent"), byName["emergent.s.01"], "no tags: sense 1 of index.adj")
        XCTAssertEqual(linker.entity(for: "chase"), byName["chase.v.01"])
        XCTAssertEqual(linker.entity(for: "chase after"), byName["chase.v.02"], "sense 1 of chase_after in index.verb")
        for (form, preferred) in [("dog", "dog.n.01"), ("hound", "hound.n.01"), ("good", "good.a.01"), ("emergent", "emergent.s.01")] {
            let carriers = kb.entities.indices.filter { kb.entities[$0].surfaceForms.map(EntityLinker.normalize).contains(form) }
            XCTAssertEqual(carriers.first.map(Int32.init), byName[preferred], "lowest id of \(form)")
        }
        // "chase" prefers chase.v.01 and "chase after" chase.v.02: a cycle, so one of them cannot have the lowest id.
    }

    func testSenseKeys() throws {
        let source = DataFixtures.wordNetMini
        var synsets: [WordNetImport.Synset] = []
        for pos in WordNetSchema.FilePOS.allCases {
            try WordNetImport.readData(source + "/data.\(pos.fileSuffix)", pos: pos, categoryCount: 45, into: &synsets)
        }
        var index: [Int: Int] = [:]
        for (i, s) in synsets.enumerated() { index[s.pos.rawValue << 32 | s.offset] = i }
        func key(_ offset: Int, _ k: Int) throws -> String {
            let i = try XCTUnwrap(synsets.firstIndex { $0.offset == offset })
            return WordNetImport.senseKey(synsets[i], lemma: k, synsets: synsets, synsetIndex: index)
        }
        XCTAssertEqual(try key(2084071, 0), "dog%1:05:00::")
        XCTAssertEqual(try key(10114209, 1), "dog%1:18:01::")
        XCTAssertEqual(try key(2001876, 7), "go_after%2:38:01::")
        XCTAssertEqual(try key(3553, 0), "emergent%5:00:00:nascent:00")
        XCTAssertEqual(WordNetImport.shortSatelliteKey("emergent%5:00:00:aborning:00"), "emergent%5:00:00:*")
    }

    func testPreferenceOrderBreaksCycles() {
        // 0 before 1 and 1 before 0 (a cycle), 2 before 1; 3 unconstrained.
        let order = WordNetImport.preferenceOrder(count: 4, successors: [[1], [0], [1], []])
        XCTAssertEqual(Set(order), [0, 1, 2, 3])
        XCTAssertLessThan(order.firstIndex(of: 2)!, order.firstIndex(of: 1)!)
        // Without constraints: the default (index) order.
        XCTAssertEqual(WordNetImport.preferenceOrder(count: 5, successors: Array(repeating: [], count: 5)), [0, 1, 2, 3, 4])
        // A chain is kept whole.
        XCTAssertEqual(WordNetImport.preferenceOrder(count: 3, successors: [[], [0], [1]]), [2, 1, 0])
    }

    func testPrepareWordNetEndToEnd() throws {
        let out = try temporaryDirectory(self).appendingPathComponent("wn")
        let summary = try DatasetPreparation.prepareWordNet(source: DataFixtures.wordNetMini, vocabulary: DataFixtures.vocabulary,
                                                            options: PrepareOptions(), outputDirectory: out.path)
        XCTAssertEqual(summary.entities, 17)
        XCTAssertEqual(summary.relations, 18)
        XCTAssertEqual(summary.source, "wordnet")
        let file = try DatasetFile(path: out.path)
        defer { XCTAssertNoThrow(try file.close()) }
        XCTAssertEqual(file.segmentCount(.train), summary.segments[.train])
        let names = try file.entityNames()
        let chase = try XCTUnwrap(names.firstIndex(of: "chase.v.01"))
        let descriptions = try file.descriptions()
        // "go after with the intent to catch": the lemma "go after" is tokens 1…2.
        XCTAssertEqual(Array(descriptions.spans[(2 * chase)..<(2 * chase + 2)]), [1, 2])
        XCTAssertEqual(descriptions.anchorPointer[chase + 1], descriptions.anchorPointer[chase], "named: no anchor")
        // dog.n.01's definition ("a member of the genus Canis …") names none of its lemmas: anchored "dog :"
        let dog = try XCTUnwrap(names.firstIndex(of: "dog.n.01"))
        let tokenizer = try DataFixtures.tokenizer()
        XCTAssertEqual(Array(descriptions.anchorTokens[Int(descriptions.anchorPointer[dog])..<Int(descriptions.anchorPointer[dog + 1])]),
                       tokenizer.encodeWithOffsets("dog :").ids)
        var buffer = [Int32](repeating: 0, count: 64)
        let anchored = descriptions.write(dog, anchor: .name, into: &buffer, capacity: 64)
        XCTAssertEqual(Array(buffer[0..<5]).map { tokenizer.token(for: $0) ?? "?" }, ["[CLS]", "dog", ":", "a", "member"])
        XCTAssertEqual([anchored.start, anchored.end], [1, 1], "(s, o) spans the name")
        let plain = descriptions.write(dog, anchor: .none, into: &buffer, capacity: 64)
        XCTAssertEqual(Array(buffer[0..<3]).map { tokenizer.token(for: $0) ?? "?" }, ["[CLS]", "a", "member"])
        XCTAssertEqual([plain.start, plain.end], [1, 1], "the old fallback: the first description token")
        XCTAssertEqual(anchored.length, plain.length + 2)
        // Every segment packs glosses, so it has source entities; they are type-1 nodes of its subgraph.
        var retriever = SubgraphRetriever(graph: file.trainingGraph, maxNodes: 64)
        for i in 0..<file.segmentCount(.train) {
            let record = try file.segment(i, split: .train)
            XCTAssertFalse(record.sourceEntities.isEmpty)
            let subgraph = retriever.retrieve(mentionedEntities: record.mentionedEntities, sourceEntities: record.sourceEntities, segment: i)
            let flagged = Set(zip(subgraph.nodes, subgraph.isSource).filter { $0.1 }.map { $0.0 })
            XCTAssertEqual(flagged, Set(record.sourceEntities).intersection(subgraph.nodes))
            for (k, node) in subgraph.nodes.enumerated() where subgraph.isSource[k] { XCTAssertLessThan(k, subgraph.linkedCount) }
        }
    }

    /// The glosses packed in database order, at several T, with held-out segments: every piece of
    /// every gloss once, in order, in one segment of one split (`PackingInvariants`).
    func testPackedGlosses() throws {
        let (kb, corpus, _) = try load()
        let linker = EntityLinker(entities: kb.entities, preference: kb.linkPreference)
        for (T, packing) in [(128, PackingMode.texts), (24, .texts), (9, .texts), (24, .none)] {
            var options = PrepareOptions()
            options.maxTokens = T
            options.packing = packing
            options.splits.validSegments = 0.2
            options.splits.testSegments = 0.2
            let out = try temporaryDirectory(self).appendingPathComponent("wn")
            let summary = try DatasetPreparation.prepareWordNet(source: DataFixtures.wordNetMini, vocabulary: DataFixtures.vocabulary,
                                                                options: options, outputDirectory: out.path)
            let file = try DatasetFile(path: out.path)
            defer { XCTAssertNoThrow(try file.close()) }
            let count = try PackingInvariants(file: file, corpus: corpus, tokenizer: try DataFixtures.tokenizer(), linker: linker).check()
            XCTAssertEqual(count, summary.segments.values.reduce(0, +))
            XCTAssertEqual(summary.packingStatistics.texts, corpus.count)
            if T == 9 { XCTAssertGreaterThan(summary.packingStatistics.windowedTexts, 0, "glosses longer than 7 pieces") }
            if T == 128 { XCTAssertGreaterThan(summary.meanSegmentTokens, 0.5 * 128, "segments fill T") }
        }
    }
}
