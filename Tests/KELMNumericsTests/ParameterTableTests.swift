import XCTest
import KELMNumerics

final class ParameterTableTests: XCTestCase {
    func testLayoutIsContiguousInDeclarationOrder() throws {
        var t = ParameterTable()
        let w = try t.addWeight("a.weight", shape: [3, 4])
        let b = try t.addBias("a.bias", count: 3)
        let (lw, lb) = try t.addLayerNorm("a.norm", width: 4)
        XCTAssertEqual([w.offset, b.offset, lw.offset, lb.offset], [0, 12, 15, 19])
        XCTAssertEqual(t.count, 23)
        XCTAssertEqual(try t.entry(named: "a.norm.weight").initialization, .ones)
        XCTAssertFalse(try t.entry(named: "a.bias").weightDecay)
        XCTAssertTrue(try t.entry(named: "a.weight").weightDecay)
        XCTAssertThrowsError(try t.addBias("a.bias", count: 2)) { e in
            XCTAssertEqual(e as? ParameterTableError, .duplicateName("a.bias"))
        }
        XCTAssertThrowsError(try t.entry(named: "nope"))
        XCTAssertThrowsError(try t.addWeight("z", shape: [0, 2]))
    }

    func testDigestChangesWithLayout() throws {
        var a = ParameterTable(), b = ParameterTable()
        try a.addWeight("x", shape: [2, 3]); try b.addWeight("x", shape: [3, 2])
        XCTAssertNotEqual(a.layoutDigest, b.layoutDigest)
        var c = ParameterTable()
        try c.addWeight("x", shape: [2, 3])
        XCTAssertEqual(a.layoutDigest, c.layoutDigest)
    }

    func testInitialization() throws {
        var t = ParameterTable()
        try t.addWeight("w", shape: [100, 100])
        try t.addBias("b", count: 5)
        try t.addLayerNorm("n", width: 5)
        let s = ParameterStore(table: t)
        s.initialize(seed: 3)
        let w = try s.values("w")
        let mean = w.reduce(0, +) / Float(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(w.count)).squareRoot()
        XCTAssertEqual(mean, 0, accuracy: 0.001)
        XCTAssertEqual(std, 0.02, accuracy: 0.001)
        XCTAssertTrue(try s.values("b").allSatisfy { $0 == 0 })
        XCTAssertTrue(try s.values("n.weight").allSatisfy { $0 == 1 })
        let again = ParameterStore(table: t)
        again.initialize(seed: 3)
        XCTAssertEqual(again.values.toArray(), s.values.toArray())
    }
}
