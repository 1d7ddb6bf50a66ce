import Foundation
@testable import KELMData
import XCTest

/// Checks against the installed WordNet 3.0 database (Debian `wordnet-base`); skipped without it.
final class WordNetDatabaseTests: XCTestCase {
    static let source = "/usr/share/wordnet"

    nonisolated(unsafe) static var cached: (KnowledgeBase, [CorpusSegment])?

    func load() throws -> (KnowledgeBase, [CorpusSegment]) {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: Self.source + "/data.noun"), "wordnet-base not installed")
        if let cached = Self.cached { return cached }
        let start = Date()
        let loaded = try WordNetImport.load(source: Self.source)
        print("WordNet import: \(Date().timeIntervalSince(start)) s, \(loaded.0.entities.count) synsets, \(loaded.0.triples.count) triples, \(loaded.1.count) segments")
        Self.cached = loaded
        return loaded
    }

    func testCountsAndNames() throws {
        let (kb, corpus) = try load()
        XCTAssertEqual(kb.entities.count, 117_659)
        XCTAssertEqual(kb.relations.count, 18)
        XCTAssertGreaterThan(corpus.count, kb.entities.count)
        let byName = Dictionary(uniqueKeysWithValues: kb.entities.enumerated().map { ($0.element.name, $0.offset) })
        let dog = try XCTUnwrap(byName["dog.n.01"])
        XCTAssertEqual(kb.entities[dog].key, "02084071-n")
        XCTAssertEqual(kb.entities[dog].surfaceForms, ["dog", "domestic dog", "Canis familiaris"])
        XCTAssertEqual(kb.categories[Int(kb.entities[dog].category)], "noun.animal")
        XCTAssertTrue(kb.entities[dog].description.hasPrefix("a member of the genus Canis"))
        XCTAssertEqual(kb.entities[try XCTUnwrap(byName["chase.v.01"])].key, "02001876-v")
        // Satellites use "s"; the sense number counts the lemma's senses in index.adj.
        let emergent = try XCTUnwrap(kb.entities.firstIndex { $0.key == "00003553-s" })
        XCTAssertEqual(kb.entities[emergent].name, "emergent.s.02")
        XCTAssertEqual(kb.entities[emergent].surfaceForms, ["emergent", "emerging"])
    }

    func testMostFrequentSenseHasTheLowestID() throws {
        let (kb, _) = try load()
        let linker = EntityLinker(entities: kb.entities, preference: kb.linkPreference)
        let byName = Dictionary(uniqueKeysWithValues: kb.entities.enumerated().map { ($0.element.name, Int32($0.offset)) })
        XCTAssertEqual(linker.entity(for: "dog"), byName["dog.n.01"])
        XCTAssertEqual(linker.entity(for: "Dog"), byName["dog.n.01"])
        XCTAssertEqual(linker.entity(for: "chase"), byName["chase.v.01"])
        XCTAssertEqual(linker.entity(for: "domestic dog"), byName["dog.n.01"])
        // Ambiguous forms: the preferred sense should have the lowest id wherever the
        // "preferred before the others" constraints are not cyclic (about 98% of the forms).
        var carriers: [String: Set<Int32>] = [:]
        for (id, entity) in kb.entities.enumerated() {
            for form in entity.surfaceForms { carriers[EntityLinker.normalize(form), default: []].insert(Int32(id)) }
        }
        var ambiguous = 0, agree = 0
        for (form, set) in carriers where set.count > 1 {
            ambiguous += 1
            if kb.linkPreference[form] == set.min() { agree += 1 }
        }
        print("ambiguous forms whose lowest id is the most frequent sense: \(agree) of \(ambiguous)")
        XCTAssertGreaterThan(Double(agree) / Double(ambiguous), 0.975)
    }

    func testRelationsAreFolded() throws {
        let (kb, _) = try load()
        XCTAssertFalse(kb.relations.contains("hyponym"))
        XCTAssertFalse(kb.relations.contains("member_meronym"))
        let byName = Dictionary(uniqueKeysWithValues: kb.entities.enumerated().map { ($0.element.name, Int32($0.offset)) })
        let hypernym = Int32(try XCTUnwrap(kb.relations.firstIndex(of: "hypernym")))
        let dog = try XCTUnwrap(byName["dog.n.01"]), canine = try XCTUnwrap(byName["canine.n.02"])
        XCTAssertTrue(kb.triples.contains(Triple(head: dog, relation: hypernym, tail: canine)))
        // 75,850 hypernym pointers and as many hyponym pointers fold into 75,850 triples (+ 13,239 verb ones).
        XCTAssertEqual(kb.triples.filter { $0.relation == hypernym }.count, 75_850 + 13_239)
        for name in ["antonym", "similar_to", "derivationally_related", "verb_group", "also_see", "attribute"] {
            let relation = Int32(try XCTUnwrap(kb.relations.firstIndex(of: name)))
            XCTAssertTrue(kb.triples.filter { $0.relation == relation }.allSatisfy { $0.head < $0.tail }, name)
        }
        XCTAssertEqual(Set(kb.triples).count, kb.triples.count)
    }
}
