@testable import KELMData
import XCTest

/// DRAGON's subgraph rule on a small hand-made KG (R = 2):
///
///     0 -r0-> 1      0 -r0-> 5     1 -r1-> 5     2 -r0-> 5     5 -r1-> 6     9 -r0-> 5
///     6 -r0-> 0      6 -r1-> 0     1 -r0-> 6     7 -r0-> 2     8 -r0-> 0     8 -r0-> 2
///     3 -r0-> 0      3 -r0-> 1     10 -r0-> 1    10 -r0-> 2    4 -r0-> 3
///
/// Mentions 2, 0, 2, 1 link 2, 0, 1 (in order of first mention). Linked neighbours: 5 → 3,
/// 6, 8, 10 and 3 → 2, 7 → 1, 9 and 4 → 0.
final class SubgraphRetrieverTests: XCTestCase {
    static let triples: [Triple] = [
        (0, 0, 1), (0, 0, 5), (1, 1, 5), (2, 0, 5), (5, 1, 6), (9, 0, 5), (6, 0, 0), (6, 1, 0), (1, 0, 6),
        (7, 0, 2), (8, 0, 0), (8, 0, 2), (3, 0, 0), (3, 0, 1), (10, 0, 1), (10, 0, 2), (4, 0, 3),
    ].map { Triple(head: $0.0, relation: $0.1, tail: $0.2) }
    static let graph = Adjacency(nodeCount: 12, relationCount: 2, triples: sortedUnique(triples))

    func edges(_ subgraph: Subgraph) -> [[Int32]] {
        subgraph.edges.map { [subgraph.nodes[Int($0.source)], $0.relation, subgraph.nodes[Int($0.target)]] }
    }

    func testNodesEdgesAndOrder() {
        var retriever = SubgraphRetriever(graph: Self.graph, maxNodes: 64)
        let subgraph = retriever.retrieve(mentionedEntities: [2, 0, 2, 1], sourceEntity: -1)
        // Linked in order of first mention, then by linked neighbours (5 has 3; 3, 6, 8, 10 have 2) then id.
        XCTAssertEqual(subgraph.nodes, [2, 0, 1, 5, 3, 6, 8, 10])
        XCTAssertEqual(subgraph.linkedCount, 3)
        // Every training-graph edge among the nodes, forward only, sorted by (source, target, relation) positions.
        let expected: [[Int32]] = [
            [2, 0, 5], [0, 0, 1], [0, 0, 5], [1, 1, 5], [1, 0, 6], [5, 1, 6], [3, 0, 0], [3, 0, 1],
            [6, 0, 0], [6, 1, 0], [8, 0, 2], [8, 0, 0], [10, 0, 2], [10, 0, 1],
        ]
        XCTAssertEqual(Set(edges(subgraph)), Set(expected))
        XCTAssertEqual(subgraph.edges.count, expected.count)
        let positions = subgraph.edges.map { [$0.source, $0.target, $0.relation] }
        XCTAssertEqual(positions, positions.sorted { $0.lexicographicallyPrecedes($1) })
        XCTAssertTrue(subgraph.edges.allSatisfy { $0.relation < 2 })
    }

    func testSourceEntityIsNeverIncluded() {
        var retriever = SubgraphRetriever(graph: Self.graph, maxNodes: 64)
        // 3 is adjacent to two linked entities, and even mentioned: the source is left out.
        let subgraph = retriever.retrieve(mentionedEntities: [2, 3, 0, 1], sourceEntity: 3)
        XCTAssertEqual(subgraph.nodes, [2, 0, 1, 5, 6, 8, 10])
        XCTAssertFalse(edges(subgraph).contains { $0[0] == 3 || $0[2] == 3 })
        // The source as the would-be top "other" node.
        let other = retriever.retrieve(mentionedEntities: [2, 0, 1], sourceEntity: 5)
        XCTAssertEqual(other.nodes, [2, 0, 1, 3, 6, 8, 10])
        // A linked source: 0 goes, and with it the neighbour counts it contributed (8 and 6 drop to 1).
        let linkedSource = retriever.retrieve(mentionedEntities: [2, 0, 1], sourceEntity: 0)
        XCTAssertEqual(linkedSource.nodes, [2, 1, 5, 10])
        XCTAssertEqual(linkedSource.linkedCount, 2)
    }

    func testCapKeepsLinkedFirstThenTheBestOthers() {
        var five = SubgraphRetriever(graph: Self.graph, maxNodes: 5)
        XCTAssertEqual(five.retrieve(mentionedEntities: [2, 0, 2, 1], sourceEntity: -1).nodes, [2, 0, 1, 5])
        var six = SubgraphRetriever(graph: Self.graph, maxNodes: 6)
        let capped = six.retrieve(mentionedEntities: [2, 0, 1], sourceEntity: -1)
        XCTAssertEqual(capped.nodes, [2, 0, 1, 5, 3])
        XCTAssertEqual(Set(edges(capped)), Set([[2, 0, 5], [0, 0, 1], [0, 0, 5], [1, 1, 5], [3, 0, 0], [3, 0, 1]] as [[Int32]]))
        var three = SubgraphRetriever(graph: Self.graph, maxNodes: 3)
        let linkedOnly = three.retrieve(mentionedEntities: [2, 0, 1], sourceEntity: -1)
        XCTAssertEqual(linkedOnly.nodes, [2, 0], "linked entities beyond J − 1 are dropped, in mention order")
        XCTAssertEqual(linkedOnly.linkedCount, 2)
        var one = SubgraphRetriever(graph: Self.graph, maxNodes: 1)
        XCTAssertEqual(one.retrieve(mentionedEntities: [2, 0], sourceEntity: -1).nodes, [])
    }

    func testNoMentionsAndIsolatedEntities() {
        var retriever = SubgraphRetriever(graph: Self.graph, maxNodes: 64)
        XCTAssertEqual(retriever.retrieve(mentionedEntities: [], sourceEntity: 4), Subgraph())
        let isolated = retriever.retrieve(mentionedEntities: [11], sourceEntity: -1)
        XCTAssertEqual(isolated.nodes, [11])
        XCTAssertEqual(isolated.edges, [])
    }

    /// The scratch state is reset between calls: the same query gives the same answer after others.
    func testRepeatedCallsAgree() {
        var retriever = SubgraphRetriever(graph: Self.graph, maxNodes: 64)
        let first = retriever.retrieve(mentionedEntities: [2, 0, 1], sourceEntity: -1)
        _ = retriever.retrieve(mentionedEntities: [8, 10, 5], sourceEntity: 1)
        _ = retriever.retrieve(mentionedEntities: [0], sourceEntity: -1)
        XCTAssertEqual(retriever.retrieve(mentionedEntities: [2, 0, 1], sourceEntity: -1), first)
    }
}
