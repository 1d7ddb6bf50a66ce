@testable import KELMData
import XCTest

final class SampleOrderTests: XCTestCase {
    func testPositionsFollowTheFormula() {
        let order = SampleOrder(sampleCount: 100, microBatch: 3, worldSize: 2, accumulation: 4, seed: 0)
        XCTAssertEqual(order.globalBatch, 24)
        XCTAssertEqual(order.stepsPerEpoch, 4, "⌊100 / 24⌋: the last partial global batch is dropped")
        for g in 0..<4 {
            for a in 0..<4 {
                for r in 0..<2 {
                    XCTAssertEqual(Array(order.positions(step: g, microStep: a, rank: r)),
                                   (0..<3).map { g * 24 + a * 6 + r * 3 + $0 })
                }
            }
        }
        let keep = SampleOrder(sampleCount: 100, microBatch: 3, worldSize: 2, accumulation: 4, seed: 0, dropLast: false)
        XCTAssertEqual(keep.stepsPerEpoch, 5)
        XCTAssertEqual(keep.positions(step: 4, microStep: 0, rank: 1), 99..<100)
        XCTAssertEqual(keep.positions(step: 4, microStep: 1, rank: 0), 100..<100)
    }

    func testPermutationsPerEpoch() {
        let order = SampleOrder(sampleCount: 500, microBatch: 8, worldSize: 1, accumulation: 1, seed: 42)
        let p0 = order.permutation(epoch: 0), p1 = order.permutation(epoch: 1)
        XCTAssertEqual(p0.sorted(), (0..<500).map { Int32($0) })
        XCTAssertEqual(p1.sorted(), (0..<500).map { Int32($0) })
        XCTAssertNotEqual(p0, p1)
        XCTAssertEqual(p0, order.permutation(epoch: 0))
        XCTAssertNotEqual(p0, SampleOrder(sampleCount: 500, microBatch: 8, worldSize: 1, accumulation: 1, seed: 43).permutation(epoch: 0))
        // π_e does not depend on B, N or A.
        XCTAssertEqual(p0, SampleOrder(sampleCount: 500, microBatch: 2, worldSize: 3, accumulation: 5, seed: 42).permutation(epoch: 0))
    }

    func testCursorAdvances() {
        let order = SampleOrder(sampleCount: 20, microBatch: 2, worldSize: 2, accumulation: 2, seed: 0)
        XCTAssertEqual(order.stepsPerEpoch, 2)
        var cursor = LoaderCursor()
        var seen: [LoaderCursor] = []
        for _ in 0..<5 {
            seen.append(cursor)
            cursor = order.advance(cursor)
        }
        XCTAssertEqual(seen, [LoaderCursor(epoch: 0, step: 0, microStep: 0), LoaderCursor(epoch: 0, step: 0, microStep: 1),
                              LoaderCursor(epoch: 0, step: 1, microStep: 0), LoaderCursor(epoch: 0, step: 1, microStep: 1),
                              LoaderCursor(epoch: 1, step: 0, microStep: 0)])
    }
}
