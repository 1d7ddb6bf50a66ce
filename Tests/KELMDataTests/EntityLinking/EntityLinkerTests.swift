@testable import KELMData
import XCTest

final class EntityLinkerTests: XCTestCase {
    func entity(_ name: String, _ aliases: String...) -> Entity {
        Entity(key: name, name: name, description: "", surfaceForms: [name] + aliases, category: -1)
    }

    func spans(_ text: String, _ mentions: [Mention]) -> [String] {
        let scalars = Array(text.unicodeScalars)
        return mentions.map { mention in
            var view = String.UnicodeScalarView()
            view.append(contentsOf: scalars[mention.start..<mention.end])
            return "\(String(view))→\(mention.entity)"
        }
    }

    func testLongestMatchWins() {
        let linker = EntityLinker(entities: [entity("New York"), entity("New York City"), entity("York"), entity("city")])
        let text = "I moved from New York City to York."
        XCTAssertEqual(spans(text, linker.link(text)), ["New York City→1", "York→2"])
    }

    func testWordBoundariesAndCase() {
        let linker = EntityLinker(entities: [entity("cat"), entity("log")])
        let text = "The CAT's catalog: Cat-log, cats."
        // "catalog" and "cats" are other words; "CAT" before an apostrophe and "Cat"/"log" around a hyphen are words.
        XCTAssertEqual(spans(text, linker.link(text)), ["CAT→0", "Cat→0", "log→1"])
    }

    func testPunctuationBetweenWordsDoesNotMatter() {
        let linker = EntityLinker(entities: [entity("after-shave")])
        XCTAssertEqual(spans("an after shave lotion", linker.link("an after shave lotion")), ["after shave→0"])
        XCTAssertEqual(EntityLinker.normalize("After-Shave"), "after shave")
        XCTAssertEqual(EntityLinker.normalize("Canis_familiaris"), "canis familiaris")
    }

    func testStopWordFormsAreNotLinked() {
        // "it" (information technology) and "the who" are stop words only; "the dog" is not.
        let linker = EntityLinker(entities: [entity("IT", "it"), entity("The Who"), entity("the dog")])
        let text = "It is the who and the dog, said IT."
        XCTAssertEqual(spans(text, linker.link(text)), ["the dog→2"])
        XCTAssertNil(linker.entity(for: "it"))
    }

    func testAmbiguousFormLinksToTheLowestIDUnlessPreferred() {
        let entities = [entity("dog", "hound"), entity("cad", "hound", "dog"), entity("hound")]
        XCTAssertEqual(EntityLinker(entities: entities).entity(for: "hound"), 0)
        XCTAssertEqual(EntityLinker(entities: entities).entity(for: "dog"), 0)
        let preferred = EntityLinker(entities: entities, preference: ["hound": 2])
        XCTAssertEqual(preferred.entity(for: "Hound"), 2)
        XCTAssertEqual(preferred.link("a hound"), [Mention(start: 2, end: 7, entity: 2)])
        // A preference for an entity that does not carry the form is ignored.
        XCTAssertEqual(EntityLinker(entities: entities, preference: ["cad": 0]).entity(for: "cad"), 1)
    }

    func testCodePointOffsets() {
        let linker = EntityLinker(entities: [entity("Zürich"), entity("dog")])
        let text = "Café 🐕 in Zürich: the dog."
        let mentions = linker.link(text)
        XCTAssertEqual(mentions, [Mention(start: 10, end: 16, entity: 0), Mention(start: 22, end: 25, entity: 1)])
    }

    func testFirstOccurrenceForDescriptions() {
        let linker = EntityLinker(entities: [entity("hunting dog", "hound"), entity("dog")])
        XCTAssertEqual(linker.firstOccurrence(of: 0, in: "A dog bred for hunting; a hound."), 26..<31)
        XCTAssertEqual(linker.firstOccurrence(of: 0, in: "The hunting dog is a hound."), 4..<15)
        XCTAssertNil(linker.firstOccurrence(of: 1, in: "Nothing here."))
    }
}
