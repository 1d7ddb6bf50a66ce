@testable import KELMData
import XCTest

final class AdjacencyTests: XCTestCase {
    /// Each triple (h, r, t) appears as h → t with r and t → h with R + r, rows sorted.
    func testBothDirections() {
        let triples = [Triple(head: 0, relation: 1, tail: 2), Triple(head: 2, relation: 0, tail: 1), Triple(head: 0, relation: 0, tail: 2)]
        let graph = Adjacency(nodeCount: 4, relationCount: 2, triples: triples)
        func row(_ v: Int32) -> [[Int32]] { graph.entries(of: v).map { [graph.neighbors[$0], graph.relations[$0]] } }
        XCTAssertEqual(graph.offsets, [0, 2, 3, 6, 6])
        XCTAssertEqual(row(0), [[2, 0], [2, 1]])
        XCTAssertEqual(row(1), [[2, 2]])
        XCTAssertEqual(row(2), [[0, 2], [0, 3], [1, 0]])
        XCTAssertEqual(row(3), [])
        XCTAssertEqual(graph.entryCount, 2 * triples.count)
        XCTAssertTrue(graph.connected(0, 2))
        XCTAssertTrue(graph.connected(2, 0))
        XCTAssertTrue(graph.connected(1, 2))
        XCTAssertFalse(graph.connected(0, 1))
        XCTAssertFalse(graph.connected(3, 0))
    }

    /// Every forward entry has its inverse entry, on a random graph.
    func testEveryEntryHasItsInverse() {
        let data = SyntheticDataset.make()
        let graph = data.trainingGraph
        let R = Int32(graph.relationCount)
        var entries = Set<[Int32]>()
        for v in 0..<Int32(graph.nodeCount) {
            for e in graph.entries(of: v) { entries.insert([v, graph.neighbors[e], graph.relations[e]]) }
        }
        XCTAssertEqual(entries.count, graph.entryCount)
        for entry in entries {
            let inverse: [Int32] = [entry[1], entry[0], entry[2] < R ? entry[2] + R : entry[2] - R]
            XCTAssertTrue(entries.contains(inverse), "\(entry)")
        }
        for triple in data.triples.train {
            XCTAssertTrue(entries.contains([triple.head, triple.tail, triple.relation]))
        }
    }
}
