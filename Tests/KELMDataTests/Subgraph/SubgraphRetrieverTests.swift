@testable import KELMData
import XCTest

/// The subgraph rule of DESIGN §6 on a small hand-made KG (R = 2):
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

    /// The nodes in the order of DESIGN §6: linked (1), count-≥2 neighbours by count then id (3),
    /// then count-1 neighbours by h(seed, segment, entity) (4).
    func hashOrder(_ entities: [Int32], segment: Int, seed: UInt64 = 0) -> [Int32] {
        entities.sorted { SubgraphRetriever.neighbourHash(seed: seed, segment: segment, entity: $0)
            < SubgraphRetriever.neighbourHash(seed: seed, segment: segment, entity: $1) }
    }

    func testNodesEdgesAndOrder() {
        var retriever = SubgraphRetriever(graph: Self.graph, maxNodes: 64)
        let subgraph = retriever.retrieve(mentionedEntities: [2, 0, 2, 1], sourceEntities: [], segment: 0)
        // Linked in order of first mention, then by linked neighbours (5 has 3; 3, 6, 8, 10 have 2)
        // then id, then the 1-hop neighbour 7 (one linked neighbour).
        XCTAssertEqual(subgraph.nodes, [2, 0, 1, 5, 3, 6, 8, 10, 7])
        XCTAssertEqual(subgraph.linkedCount, 3)
        XCTAssertEqual(subgraph.isSource, Array(repeating: false, count: 9))
        // Every training-graph edge among the nodes, forward only, sorted by (source, target, relation) positions.
        let expected: [[Int32]] = [
            [2, 0, 5], [0, 0, 1], [0, 0, 5], [1, 1, 5], [1, 0, 6], [5, 1, 6], [3, 0, 0], [3, 0, 1],
            [6, 0, 0], [6, 1, 0], [8, 0, 2], [8, 0, 0], [10, 0, 2], [10, 0, 1], [7, 0, 2],
        ]
        XCTAssertEqual(Set(edges(subgraph)), Set(expected))
        XCTAssertEqual(subgraph.edges.count, expected.count)
        let positions = subgraph.edges.map { [$0.source, $0.target, $0.relation] }
        XCTAssertEqual(positions, positions.sorted { $0.lexicographicallyPrecedes($1) })
        XCTAssertTrue(subgraph.edges.allSatisfy { $0.relation < 2 })
    }

    /// Source entities are type-1 nodes (x⁰ = 0): a linked one stays where its mention puts it, an
    /// unlinked one follows the linked entities; their neighbours count like the linked ones'.
    func testSourceEntitiesAreTypeOneNodesWithTheirEdges() {
        var retriever = SubgraphRetriever(graph: Self.graph, maxNodes: 64)
        // 3 is mentioned and a source: linked, flagged; its neighbour 4 joins as a 1-hop node
        let linked = retriever.retrieve(mentionedEntities: [2, 3, 0, 1], sourceEntities: [3], segment: 4)
        XCTAssertEqual(Array(linked.nodes.prefix(8)), [2, 3, 0, 1, 5, 6, 8, 10])
        XCTAssertEqual(Array(linked.nodes.dropFirst(8)), hashOrder([4, 7], segment: 4))
        XCTAssertEqual(linked.linkedCount, 4)
        XCTAssertEqual(linked.isSource, linked.nodes.map { $0 == 3 })
        XCTAssertTrue(edges(linked).contains([3, 0, 0]) && edges(linked).contains([4, 0, 3]), "a source's edges are knowledge")
        // 5 is not mentioned: it follows the linked entities, and makes 6 a count-3 node
        let unlinked = retriever.retrieve(mentionedEntities: [2, 0, 1], sourceEntities: [5, 5], segment: 4)
        XCTAssertEqual(Array(unlinked.nodes.prefix(8)), [2, 0, 1, 5, 6, 3, 8, 10])
        XCTAssertEqual(Array(unlinked.nodes.dropFirst(8)), hashOrder([7, 9], segment: 4))
        XCTAssertEqual(unlinked.linkedCount, 4)
        XCTAssertEqual(unlinked.isSource, unlinked.nodes.map { $0 == 5 })
        // sources only (no mention)
        let alone = retriever.retrieve(mentionedEntities: [], sourceEntities: [4, 11], segment: 0)
        XCTAssertEqual(alone.nodes, [4, 11, 3])
        XCTAssertEqual(alone.isSource, [true, true, false])
        XCTAssertEqual(alone.linkedCount, 2)
    }

    /// A hub's 1-hop neighbours are a seeded sample: the ones with the smallest h(seed, segment,
    /// entity), other segments and seeds another sample.
    func testOneHopNeighboursOfAHubAreASeededSample() {
        let leaves = (1...60).map { Triple(head: 0, relation: 0, tail: Int32($0)) }
        let star = Adjacency(nodeCount: 61, relationCount: 1, triples: leaves)
        var retriever = SubgraphRetriever(graph: star, maxNodes: 11, seed: 3)
        var samples: Set<[Int32]> = []
        for segment in 0..<4 {
            let s = retriever.retrieve(mentionedEntities: [0], sourceEntities: [], segment: segment)
            XCTAssertEqual(s.nodes.first, 0)
            XCTAssertEqual(Array(s.nodes.dropFirst()), Array(hashOrder(Array(1...60), segment: segment, seed: 3).prefix(9)))
            XCTAssertEqual(s.edges.count, 9)
            samples.insert(Array(s.nodes.dropFirst()).sorted())
        }
        XCTAssertEqual(samples.count, 4, "each segment samples other neighbours")
        var other = SubgraphRetriever(graph: star, maxNodes: 11, seed: 4)
        XCTAssertFalse(samples.contains(Array(other.retrieve(mentionedEntities: [0], sourceEntities: [], segment: 0).nodes.dropFirst()).sorted()))
        XCTAssertFalse(samples.contains(Array(1...9)), "not the lowest ids")
    }

    func testCapKeepsLinkedFirstThenTheBestOthers() {
        var five = SubgraphRetriever(graph: Self.graph, maxNodes: 5)
        XCTAssertEqual(five.retrieve(mentionedEntities: [2, 0, 2, 1], sourceEntities: [], segment: 0).nodes, [2, 0, 1, 5])
        var six = SubgraphRetriever(graph: Self.graph, maxNodes: 6)
        let capped = six.retrieve(mentionedEntities: [2, 0, 1], sourceEntities: [], segment: 0)
        XCTAssertEqual(capped.nodes, [2, 0, 1, 5, 3])
        XCTAssertEqual(Set(edges(capped)), Set([[2, 0, 5], [0, 0, 1], [0, 0, 5], [1, 1, 5], [3, 0, 0], [3, 0, 1]] as [[Int32]]))
        var three = SubgraphRetriever(graph: Self.graph, maxNodes: 3)
        let linkedOnly = three.retrieve(mentionedEntities: [2, 0, 1], sourceEntities: [], segment: 0)
        XCTAssertEqual(linkedOnly.nodes, [2, 0], "linked entities beyond J − 1 are dropped, in mention order")
        XCTAssertEqual(linkedOnly.linkedCount, 2)
        let sourceCut = three.retrieve(mentionedEntities: [2], sourceEntities: [4, 11], segment: 0)
        XCTAssertEqual(sourceCut.nodes, [2, 4], "then the sources, in text order")
        var one = SubgraphRetriever(graph: Self.graph, maxNodes: 1)
        XCTAssertEqual(one.retrieve(mentionedEntities: [2, 0], sourceEntities: [], segment: 0).nodes, [])
    }

    func testNoMentionsAndIsolatedEntities() {
        var retriever = SubgraphRetriever(graph: Self.graph, maxNodes: 64)
        XCTAssertEqual(retriever.retrieve(mentionedEntities: [], sourceEntities: [], segment: 0), Subgraph())
        let isolated = retriever.retrieve(mentionedEntities: [11], sourceEntities: [], segment: 0)
        XCTAssertEqual(isolated.nodes, [11])
        XCTAssertEqual(isolated.edges, [])
    }

    /// The scratch state is reset between calls: the same query gives the same answer after others.
    func testRepeatedCallsAgree() {
        var retriever = SubgraphRetriever(graph: Self.graph, maxNodes: 64)
        let first = retriever.retrieve(mentionedEntities: [2, 0, 1], sourceEntities: [], segment: 2)
        _ = retriever.retrieve(mentionedEntities: [8, 10, 5], sourceEntities: [1], segment: 3)
        _ = retriever.retrieve(mentionedEntities: [0], sourceEntities: [3, 0], segment: 5)
        XCTAssertEqual(retriever.retrieve(mentionedEntities: [2, 0, 1], sourceEntities: [], segment: 2), first)
    }
}
