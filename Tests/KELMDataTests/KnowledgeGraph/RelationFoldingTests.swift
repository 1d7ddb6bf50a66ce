@testable import KELMData
import XCTest

final class RelationFoldingTests: XCTestCase {
    func testInverseFoldsIntoItsPartnerReversed() throws {
        // raw: 0 parent-of, 1 child-of (inverse of 0), 2 friend (symmetric), 3 likes
        let folding = try RelationFolding([.directed, .inverse(of: 0), .symmetric, .directed])
        XCTAssertEqual(folding.count, 3)
        XCTAssertEqual(folding.keptRawRelation, [0, 2, 3])
        XCTAssertEqual(folding.fold(head: 5, rawRelation: 1, tail: 9), Triple(head: 9, relation: 0, tail: 5))
        XCTAssertEqual(folding.fold(head: 5, rawRelation: 0, tail: 9), Triple(head: 5, relation: 0, tail: 9))
        XCTAssertEqual(folding.fold(head: 4, rawRelation: 3, tail: 2), Triple(head: 4, relation: 2, tail: 2))
    }

    func testSymmetricKeepsOneTriplePerUnorderedPair() throws {
        let folding = try RelationFolding([.symmetric])
        let triples = folding.fold([(head: 7, relation: 0, tail: 3), (head: 3, relation: 0, tail: 7), (head: 3, relation: 0, tail: 7)])
        XCTAssertEqual(triples, [Triple(head: 3, relation: 0, tail: 7)])
    }

    func testAnInverseOfASymmetricRelationIsCanonicalToo() throws {
        let folding = try RelationFolding([.symmetric, .inverse(of: 0)])
        XCTAssertEqual(folding.fold([(head: 2, relation: 1, tail: 8), (head: 8, relation: 0, tail: 2)]),
                       [Triple(head: 2, relation: 0, tail: 8)])
    }

    func testDuplicatesMergedAndSelfLoopsDropped() throws {
        let folding = try RelationFolding([.directed, .inverse(of: 0)])
        let triples = folding.fold([(head: 1, relation: 0, tail: 2), (head: 2, relation: 1, tail: 1), (head: 3, relation: 0, tail: 3)])
        XCTAssertEqual(triples, [Triple(head: 1, relation: 0, tail: 2)])
    }

    func testBadDeclarations() {
        XCTAssertThrowsError(try RelationFolding([.inverse(of: 0)])) {
            XCTAssertEqual($0 as? RelationFolding.Problem, .inverseOfItself(index: 0))
        }
        XCTAssertThrowsError(try RelationFolding([.directed, .inverse(of: 0), .inverse(of: 1)])) {
            XCTAssertEqual($0 as? RelationFolding.Problem, .inverseOfInverse(index: 2))
        }
        XCTAssertThrowsError(try RelationFolding([.inverse(of: 4)])) {
            XCTAssertEqual($0 as? RelationFolding.Problem, .inverseOutOfRange(index: 0))
        }
    }
}
