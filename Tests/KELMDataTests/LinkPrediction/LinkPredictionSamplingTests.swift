import KELMNumerics
@testable import KELMData
import XCTest

/// Link-prediction sampling and the GNN input edges, through `BatchAssembler`.
final class LinkPredictionSamplingTests: XCTestCase {
    let special = SpecialTokenIDs(pad: 0, unknown: 1, cls: 2, sep: 3, mask: 4)

    /// A graph on `entities` nodes: every pair (i < j) joined by relation (i + j) % R, and
    /// every third pair also by a second relation, so pairs can carry several edges.
    func denseGraph(entities: Int, relations: Int) -> Adjacency {
        var triples: [Triple] = []
        for i in 0..<entities {
            for j in (i + 1)..<entities {
                triples.append(Triple(head: Int32(i), relation: Int32((i + j) % relations), tail: Int32(j)))
                if (i + j) % 3 == 0 {
                    triples.append(Triple(head: Int32(j), relation: Int32((i + j + 1) % relations), tail: Int32(i)))
                }
            }
        }
        return Adjacency(nodeCount: entities, relationCount: relations, triples: sortedUnique(triples))
    }

    func record(mentioning entities: [Int32], source: Int32 = -1) -> SegmentRecord {
        var mentions: [Int32] = []
        for (k, entity) in entities.enumerated() { mentions += [Int32(1 + k), Int32(2 + k), entity] }
        let tokens = [special.cls] + entities.map { _ in Int32(10) } + [special.sep]
        return SegmentRecord(tokens: tokens, wordStarts: tokens.map { _ in 1 }, mentions: mentions, sourceEntities: source >= 0 ? [source] : [])
    }

    func assemble(_ graph: Adjacency, _ records: [SegmentRecord], maxNodes: Int = 64, seed: UInt64 = 0) -> TrainingBatch {
        let batch = TrainingBatch(segments: records.count, tokens: 80, maxNodes: maxNodes, relationCount: graph.relationCount)
        let assembler = BatchAssembler(graph: graph, maxNodes: maxNodes, vocabularySize: 50, specialTokens: special, seed: seed)
        assembler.begin(batch)
        for (k, record) in records.enumerated() { assembler.append(record, sample: 100 + k, epoch: 0, to: batch) }
        return batch
    }

    func testCountsRemovalAndNegatives() {
        let R = 3
        let graph = denseGraph(entities: 12, relations: R)
        let records = [record(mentioning: (0..<8).map { Int32($0) }), record(mentioning: [3, 9, 11, 4]), record(mentioning: [5])]
        for seed in 0..<20 as Range<UInt64> {
            let b = assemble(graph, records, seed: seed).snapshot()
            for s in 0..<records.count { check(segment: b.segment(s, tokens: 80), graph: graph, R: R) }
        }
    }

    /// The entity of local node `v` (a source node's is kept aside: its memory row is not read).
    func entity(_ segment: TrainingBatchContents, _ v: Int) -> Int32 {
        segment.nodeEntity[v] >= 0 ? segment.nodeEntity[v] : segment.nodeSourceEntity[v]
    }

    /// Checks one segment (in local node ids) against the rules of DESIGN §3 and §9.
    func check(segment: TrainingBatchContents, graph: Adjacency, R: Int, file: StaticString = #filePath, line: UInt = #line) {
        let nodes = segment.nodeEntity.count
        XCTAssertEqual(segment.nodeEntity[0], -1, file: file, line: line)
        XCTAssertEqual(segment.nodeSourceEntity[0], -1, file: file, line: line)
        XCTAssertEqual(segment.nodeType[0], 0, file: file, line: line)
        for v in 1..<nodes {
            XCTAssertTrue((segment.nodeEntity[v] >= 0) != (segment.nodeSourceEntity[v] >= 0), "node \(v): a memory row or a source", file: file, line: line)
            if segment.nodeSourceEntity[v] >= 0 { XCTAssertEqual(segment.nodeType[v], 1, "a source node is type 1", file: file, line: line) }
        }
        // The candidates: every forward KG edge among the segment's KG nodes.
        var candidates = Set<[Int32]>()
        for a in 1..<nodes {
            for b in 1..<nodes {
                let ea = entity(segment, a), eb = entity(segment, b)
                for e in graph.entries(of: ea) where graph.neighbors[e] == eb && graph.relations[e] < Int32(R) {
                    candidates.insert([Int32(a), graph.relations[e], Int32(b)])
                }
            }
        }
        let P = candidates.isEmpty ? 0 : min(100, max(1, (15 * candidates.count) / 100))
        XCTAssertEqual(segment.positiveCount, P, "P = min(100, max(1, ⌊0.15 × candidates⌋))", file: file, line: line)
        let positives = (0..<P).map { Array(segment.positives[(3 * $0)..<(3 * $0 + 3)]) }
        XCTAssertEqual(Set(positives).count, P, "drawn without replacement", file: file, line: line)
        XCTAssertTrue(Set(positives).isSubset(of: candidates), file: file, line: line)
        let removed = P - P / 10
        var removedPairs = Set<[Int32]>()
        for p in positives.prefix(removed) {
            removedPairs.insert([p[0], p[2]])
            removedPairs.insert([p[2], p[0]])
        }
        let edges = (0..<segment.edgeType.count).map { [segment.edgeSource[$0], segment.edgeType[$0], segment.edgeTarget[$0]] }
        // No edge at all between the two nodes of a removed positive, in either direction.
        for edge in edges { XCTAssertFalse(removedPairs.contains([edge[0], edge[2]]), "\(edge) should be removed", file: file, line: line) }
        // Every other candidate is present in both directions (kept positives included).
        let edgeSet = Set(edges)
        for c in candidates where !removedPairs.contains([c[0], c[2]]) {
            XCTAssertTrue(edgeSet.contains(c), "\(c)", file: file, line: line)
            XCTAssertTrue(edgeSet.contains([c[2], c[1] + Int32(R), c[0]]), "inverse of \(c)", file: file, line: line)
        }
        let kgEdges = edges.filter { $0[1] < 2 * Int32(R) }
        XCTAssertEqual(kgEdges.count, 2 * candidates.filter { !removedPairs.contains([$0[0], $0[2]]) }.count, file: file, line: line)
        // Interaction edges for linked nodes only, and a self-loop on every node.
        let linked = (1..<nodes).filter { segment.nodeType[$0] == 1 }.map { Int32($0) }
        XCTAssertEqual(Set(edges.filter { $0[1] == 2 * Int32(R) }), Set(linked.map { [0, 2 * Int32(R), $0] }), file: file, line: line)
        XCTAssertEqual(Set(edges.filter { $0[1] == 2 * Int32(R) + 1 }), Set(linked.map { [$0, 2 * Int32(R) + 1, 0] }), file: file, line: line)
        XCTAssertEqual(edges.filter { $0[1] == 2 * Int32(R) + 2 }, (0..<Int32(nodes)).map { [$0, 2 * Int32(R) + 2, $0] }, file: file, line: line)
        XCTAssertEqual(edges.count, kgEdges.count + 2 * linked.count + nodes, file: file, line: line)
        // Negatives: 32 heads and 32 tails per positive, KG nodes of this segment only.
        XCTAssertEqual(segment.negativeHeads.count, 32 * P, file: file, line: line)
        XCTAssertEqual(segment.negativeTails.count, 32 * P, file: file, line: line)
        for node in segment.negativeHeads + segment.negativeTails {
            XCTAssertTrue(node >= 1 && Int(node) < nodes, "negative \(node) must be a KG node of the segment", file: file, line: line)
        }
    }

    /// How many of a batch's negatives form a known training triple.
    func knownNegatives(_ segment: TrainingBatchContents, graph: Adjacency) -> (known: Int, total: Int) {
        var known = 0
        for p in 0..<segment.positiveCount {
            let h = entity(segment, Int(segment.positives[3 * p])), r = segment.positives[3 * p + 1]
            let t = entity(segment, Int(segment.positives[3 * p + 2]))
            for k in 0..<32 {
                if graph.contains(head: entity(segment, Int(segment.negativeHeads[p * 32 + k])), relation: r, tail: t) { known += 1 }
                if graph.contains(head: h, relation: r, tail: entity(segment, Int(segment.negativeTails[p * 32 + k]))) { known += 1 }
            }
        }
        return (known, 64 * segment.positiveCount)
    }

    /// A replacement that forms a known training triple is drawn again, at most 8 draws in all:
    /// with two KG nodes and the one triple (a, r, b), a replacement head must be b and a
    /// replacement tail a, except when all 8 draws hit the triple (probability 1/256).
    func testNegativesThatFormKnownTriplesAreRedrawnUpToEightTimes() {
        let graph = Adjacency(nodeCount: 4, relationCount: 1, triples: [Triple(head: 0, relation: 0, tail: 1)])
        var known = 0, total = 0
        for seed in 0..<60 as Range<UInt64> {
            let segment = assemble(graph, [record(mentioning: [0, 1])], seed: seed).snapshot().segment(0, tokens: 80)
            XCTAssertEqual(segment.positiveCount, 1)
            let counts = knownNegatives(segment, graph: graph)
            known += counts.known
            total += counts.total
        }
        XCTAssertEqual(total, 60 * 64)
        // unfiltered half would form the triple (1,920); at most 8 draws leaves 3840/256 = 15 expected
        XCTAssertGreaterThan(known, 2, "the 8th draw is kept even when it forms the triple")
        XCTAssertLessThan(known, 40)
        // on a dense graph the filter removes most known triples too
        let dense = denseGraph(entities: 12, relations: 2)
        var denseKnown = 0, denseTotal = 0
        for seed in 0..<10 as Range<UInt64> {
            let counts = knownNegatives(assemble(dense, [record(mentioning: (0..<8).map { Int32($0) })], seed: seed).snapshot().segment(0, tokens: 80), graph: dense)
            denseKnown += counts.known
            denseTotal += counts.total
        }
        XCTAssertLessThan(Double(denseKnown), 0.05 * Double(denseTotal))
    }

    /// More than 667 candidates: P stops at 100 and 90 are removed (100 − ⌊10⌋).
    func testPositivesCapAtOneHundred() {
        let graph = denseGraph(entities: 45, relations: 2)
        let batch = assemble(graph, [record(mentioning: (0..<45).map { Int32($0) })])
        let segment = batch.snapshot().segment(0, tokens: 80)
        XCTAssertEqual(segment.positiveCount, 100)
        check(segment: segment, graph: graph, R: 2)
    }

    /// Negatives come from the KG nodes, never the interaction node, and reach every node that
    /// forms no known triple (a chain: only the positive's own node does).
    func testNegativesComeFromTheKGNodes() {
        let chain = Adjacency(nodeCount: 10, relationCount: 1, triples: (0..<9).map { Triple(head: Int32($0), relation: 0, tail: Int32($0 + 1)) })
        var counts = [Int](repeating: 0, count: 11)
        for seed in 0..<30 as Range<UInt64> {
            let segment = assemble(chain, [record(mentioning: (0..<10).map { Int32($0) })], seed: seed).snapshot().segment(0, tokens: 80)
            check(segment: segment, graph: chain, R: 1)
            for node in segment.negativeHeads + segment.negativeTails { counts[Int(node)] += 1 }
        }
        XCTAssertEqual(counts[0], 0)
        let total = Double(counts.reduce(0, +))
        for node in 1...10 { XCTAssertEqual(Double(counts[node]) / total, 0.1, accuracy: 0.03) }
    }

    /// One candidate gives one positive (max(1, ⌊0.15⌋)), and it is taken out of the input
    /// (1 − ⌊0.1⌋ = 1 removed); no candidate gives none.
    func testOneCandidateGivesOneHiddenPositive() {
        let graph = Adjacency(nodeCount: 4, relationCount: 1, triples: [Triple(head: 0, relation: 0, tail: 1)])
        let segment = assemble(graph, [record(mentioning: [0, 1])]).snapshot().segment(0, tokens: 80)
        XCTAssertEqual(segment.positiveCount, 1)
        XCTAssertEqual(segment.positives, [1, 0, 2])
        XCTAssertEqual(segment.edgeType, [2, 3, 2, 3, 4, 4, 4], "no KG edge left: interaction edges and self-loops")
        XCTAssertEqual(segment.edgeSource, [0, 1, 0, 2, 0, 1, 2])
        XCTAssertEqual(segment.edgeTarget, [1, 0, 2, 0, 0, 1, 2])
        let none = assemble(graph, [record(mentioning: [2, 3])]).snapshot().segment(0, tokens: 80)
        XCTAssertEqual(none.positiveCount, 0)
        XCTAssertEqual(LinkPredictionSampling.positiveCount(candidates: 0), 0)
        XCTAssertEqual((1...20).map { LinkPredictionSampling.positiveCount(candidates: $0) },
                       [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 3])
        XCTAssertEqual([1, 2, 9, 10, 11, 19, 20, 100].map(LinkPredictionSampling.removedCount), [1, 2, 9, 9, 10, 18, 18, 90])
    }

    /// Node ids are global in the batch: segment b's nodes start at nodePointer[b].
    func testBatchLayout() throws {
        let graph = denseGraph(entities: 12, relations: 3)
        let batch = assemble(graph, [record(mentioning: [0, 1, 2]), record(mentioning: [5, 6], source: 5), record(mentioning: [])])
        let b = batch.snapshot()
        XCTAssertEqual(b.nodePointer.count, 4)
        XCTAssertEqual(b.nodePointer[0], 0)
        XCTAssertEqual(b.nodeEntity[Int(b.nodePointer[1])], -1)
        XCTAssertEqual(b.nodeEntity[Int(b.nodePointer[2])], -1)
        // the source entity 5 is a type-1 node with x⁰ = 0: entity −1, its id kept aside
        let second = Int(b.nodePointer[1])..<Int(b.nodePointer[2])
        XCTAssertFalse(b.nodeEntity[second].contains(5))
        let source = try XCTUnwrap(second.first { b.nodeSourceEntity[$0] == 5 })
        XCTAssertEqual(b.nodeEntity[source], -1)
        XCTAssertEqual(b.nodeType[source], 1)
        XCTAssertEqual(b.nodeSourceEntity[second].filter { $0 >= 0 }, [5])
        XCTAssertEqual(b.nodePointer[3] - b.nodePointer[2], 1, "no mentions: the interaction node alone")
        XCTAssertEqual(Int(b.nodePointer[3]), batch.nodeCount)
        for e in 0..<batch.edgeCount {
            let s = b.edgeSource[e], t = b.edgeTarget[e]
            let segmentOf = { (node: Int32) in b.nodePointer.lastIndex { $0 <= node } }
            XCTAssertEqual(segmentOf(s), segmentOf(t), "edges stay inside their segment")
        }
        XCTAssertEqual(b.sampleIndices, [100, 101, 102])
        XCTAssertEqual(b.positivePointer.last.map(Int.init), batch.positiveCount)
        XCTAssertEqual(b.edgeIndex(batch), batch.edgeIndex())
    }
}

extension TrainingBatchContents {
    func edgeIndex(_ batch: TrainingBatch) -> [Int32] { edgeSource + edgeTarget }
}
