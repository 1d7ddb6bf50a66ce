@testable import KELMData
import XCTest

final class HeldOutSplitTests: XCTestCase {
    func randomTriples(_ count: Int, entities: Int = 50, seed: UInt64 = 1) -> [Triple] {
        var random = SplitMix(seed: seed)
        var triples: [Triple] = []
        for _ in 0..<count {
            triples.append(Triple(head: Int32(random.next(entities)), relation: Int32(random.next(4)), tail: Int32(random.next(entities))))
        }
        return sortedUnique(triples.filter { $0.head != $0.tail })
    }

    /// Held-out pairs have no edge at all (any relation, either direction) in the training graph.
    func testHeldOutPairsAreAbsentFromTheTrainingGraph() {
        let triples = randomTriples(2_000)
        var options = SplitOptions()
        options.validTriples = 0.05
        options.testTriples = 0.05
        let split = TripleSplit(triples: triples, options: options)
        XCTAssertEqual(Set(split.train + split.valid + split.test), Set(triples), "a partition")
        XCTAssertEqual(split.train.count + split.valid.count + split.test.count, triples.count)
        XCTAssertGreaterThanOrEqual(split.valid.count, Int((0.05 * Double(triples.count)).rounded()))
        XCTAssertGreaterThanOrEqual(split.test.count, Int((0.05 * Double(triples.count)).rounded()))
        let graph = Adjacency(nodeCount: 50, relationCount: 4, triples: split.train)
        for triple in split.valid + split.test {
            XCTAssertFalse(graph.connected(triple.head, triple.tail), "\(triple)")
        }
        XCTAssertTrue(Set(split.valid).isDisjoint(with: split.test))
    }

    func testSplitsAreDeterministic() {
        let triples = randomTriples(500)
        var options = SplitOptions()
        options.validTriples = 0.1
        XCTAssertEqual(TripleSplit(triples: triples, options: options), TripleSplit(triples: triples, options: options))
        XCTAssertEqual(SegmentSplit(count: 1_000, options: options), SegmentSplit(count: 1_000, options: options))
        var other = options
        other.seed = 1
        XCTAssertNotEqual(TripleSplit(triples: triples, options: options).valid, TripleSplit(triples: triples, options: other).valid)
        XCTAssertNotEqual(SegmentSplit(count: 1_000, options: options).valid, SegmentSplit(count: 1_000, options: other).valid)
    }

    func testSegmentSplitSizes() {
        let split = SegmentSplit(count: 1_000, options: SplitOptions())
        XCTAssertEqual(split.valid.count, 10)
        XCTAssertEqual(split.test.count, 10)
        XCTAssertEqual(split.train.count, 980)
        XCTAssertEqual(Set(split.train + split.valid + split.test), Set(0..<1_000))
        XCTAssertEqual(split.train, split.train.sorted())
        let tiny = SegmentSplit(count: 6, options: SplitOptions())
        XCTAssertEqual(tiny.train.count, 6, "1% of 6 rounds to 0")
    }
}
