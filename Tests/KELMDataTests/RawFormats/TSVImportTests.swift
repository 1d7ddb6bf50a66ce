@testable import KELMData
import XCTest

/// The example of docs/data.md (docs/examples/tsv) read into a knowledge base.
final class TSVImportTests: XCTestCase {
    func testEntitiesAliasesAndCategories() throws {
        let (kb, _) = try TSVImport.load(DataFixtures.exampleFiles())
        XCTAssertEqual(kb.entities.map(\.key), ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6", "Q7", "Q8"])
        XCTAssertEqual(kb.entities[0].name, "dog")
        XCTAssertEqual(kb.entities[0].surfaceForms, ["dog", "domestic dog", "hound"])
        XCTAssertEqual(kb.entities[3].surfaceForms, ["pet"], "an empty alias column gives no aliases")
        XCTAssertEqual(kb.categories, ["animal", "class", "place"])
        XCTAssertEqual(kb.entities.map(\.category), [0, 0, 1, 1, 0, 2, 2, -1], "Q8 has no category column")
        XCTAssertEqual(kb.entities[5].description, "The capital and largest city of France.")
    }

    /// `has instance` (inverse of `is a`) and `has capital` (inverse of `capital of`) fold into
    /// their partners with reversed triples; `related to` (symmetric) keeps one triple per pair.
    func testRelationFoldingOfTheExample() throws {
        let (kb, _) = try TSVImport.load(DataFixtures.exampleFiles())
        XCTAssertEqual(kb.relations, ["is a", "capital of", "located in", "related to", "kept as"])
        let (dog, cat, mammal, pet, wolf, paris, france, hunting) = (Int32(0), Int32(1), Int32(2), Int32(3), Int32(4), Int32(5), Int32(6), Int32(7))
        let expected: Set<Triple> = [
            Triple(head: dog, relation: 0, tail: mammal), Triple(head: cat, relation: 0, tail: mammal),
            Triple(head: wolf, relation: 0, tail: mammal),  // Q3 has-instance Q5, reversed
            Triple(head: dog, relation: 4, tail: pet), Triple(head: cat, relation: 4, tail: pet),
            Triple(head: paris, relation: 1, tail: france),  // once, though given in both directions
            Triple(head: paris, relation: 2, tail: france),
            Triple(head: dog, relation: 3, tail: wolf),  // symmetric, given both ways: one triple
            Triple(head: dog, relation: 3, tail: cat),  // symmetric: lower id first
            Triple(head: hunting, relation: 0, tail: dog),
        ]
        XCTAssertEqual(Set(kb.triples), expected)
        XCTAssertEqual(kb.triples.count, expected.count)
        XCTAssertEqual(kb.triples, kb.triples.sorted())
    }

    func testPlainCorpusHasNoMentions() throws {
        let (_, corpus) = try TSVImport.load(DataFixtures.exampleFiles())
        XCTAssertEqual(corpus.count, 6)
        XCTAssertEqual(corpus[0].text, "The dog chased the cat through the streets of Paris.")
        XCTAssertTrue(corpus.allSatisfy { $0.mentions == nil && $0.sourceEntity == -1 })
    }

    func testJSONLCorpus() throws {
        let (_, corpus) = try TSVImport.load(DataFixtures.exampleFiles(corpus: "corpus.jsonl"))
        XCTAssertEqual(corpus.count, 6)
        XCTAssertEqual(corpus[4].sourceEntity, 1)
        XCTAssertEqual(corpus[5].mentions?.map(\.entity), [4, 0, 4, 0, 3])
        XCTAssertEqual(corpus[0].mentions, [Mention(start: 0, end: 5, entity: 5), Mention(start: 24, end: 30, entity: 6)])
        XCTAssertNil(corpus[1].mentions, "no \"mentions\" key: linked by prepare")
        XCTAssertEqual(corpus[1].sourceEntity, 4)
        XCTAssertEqual(corpus[2].mentions, [], "\"mentions\": [] means no mentions")
        XCTAssertEqual(corpus[3].mentions, [Mention(start: 28, end: 31, entity: 0)], "code points, not UTF-16 or bytes")
    }

    func testIntegerEntityIDsInJSON() throws {
        let directory = try temporaryDirectory(self)
        let entities = try writeFile(directory, "entities.tsv", "7\tseven\t\t\n8\teight\t\t\n")
        let corpus = try writeFile(directory, "corpus.jsonl", #"{"text": "seven eight", "mentions": [{"start": 6, "end": 11, "entity": 8}], "source": 7}"# + "\n")
        let (_, _, index) = try TSVImport.readEntities(entities)
        let segments = try CorpusReader.read(corpus, entityIndex: index)
        XCTAssertEqual(segments, [CorpusSegment(text: "seven eight", mentions: [Mention(start: 6, end: 11, entity: 1)], sourceEntity: 0)])
    }
}
