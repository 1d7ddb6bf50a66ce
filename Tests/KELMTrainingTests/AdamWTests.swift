import XCTest
import KELMNumerics
import KELMTestSupport
@testable import KELMTraining

final class AdamWTests: XCTestCase {
    /// Three steps against torch.optim.AdamW's formula evaluated in double precision.
    func testMatchesPyTorchFormula() throws {
        var table = ParameterTable()
        try table.addWeight("w", shape: [4, 3])
        try table.addBias("b", count: 4)
        try table.addWeight("frozen", shape: [2])
        let params = FlatBuffer(count: table.count), grads = FlatBuffer(count: table.count)
        var rng = TestRandom(seed: 1)
        rng.fill(params.pointer, count: params.count)
        let start = params.toArray()
        let hyper = AdamW.Hyperparameters(beta1: 0.9, beta2: 0.99, eps: 1e-6, weightDecay: 0.1)
        let opt = AdamW(table: table, hyper: hyper)
        let lrs: [Float] = [1e-2, 3e-2, 5e-2]
        let frozenFlags = [false, false, true]
        var p = start.map(Double.init), m = [Double](repeating: 0, count: p.count), v = m
        for t in 1...3 {
            rng.fill(grads.pointer, count: grads.count)
            opt.update(params: params, grads: grads, learningRates: lrs, frozen: frozenFlags)
            for (ei, e) in table.entries.enumerated() {
                let lr = Double(lrs[ei])
                if frozenFlags[ei] { continue }
                for j in e.offset..<(e.offset + e.count) {
                    let g = Double(grads.pointer[j])
                    if e.weightDecay { p[j] *= 1 - lr * 0.1 }
                    m[j] = 0.9 * m[j] + 0.1 * g
                    v[j] = 0.99 * v[j] + 0.01 * g * g
                    let mh = m[j] / (1 - pow(0.9, Double(t)))
                    let denom = (v[j] / (1 - pow(0.99, Double(t)))).squareRoot() + 1e-6
                    p[j] -= lr * mh / denom
                }
            }
        }
        XCTAssertEqual(opt.step, 3)
        for j in 0..<p.count { XCTAssertEqual(Double(params.pointer[j]), p[j], accuracy: 1e-5, "element \(j)") }
        // frozen: untouched, moments untouched
        let frozen = try table.entry(named: "frozen")
        for j in frozen.offset..<(frozen.offset + frozen.count) {
            XCTAssertEqual(params.pointer[j], start[j])
            XCTAssertEqual(opt.expAvg.pointer[j], 0)
        }
    }

    /// A learning rate of 0 leaves parameters alone but updates the moments (as PyTorch does).
    /// Clipping's scale applied as the gradients are read is bit for bit the update on gradients
    /// scaled beforehand (the trainer no longer scales the buffer), in the SIMD body and the tail.
    func testGradientScaleEqualsScaledGradients() throws {
        var table = ParameterTable()
        try table.addWeight("w", shape: [5, 7])     // 35: four 8-lane blocks and a tail of 3
        try table.addBias("b", count: 3)
        var rng = TestRandom(seed: 4)
        let start = FlatBuffer(count: table.count), grads = FlatBuffer(count: table.count)
        rng.fill(start.pointer, count: start.count)
        rng.fill(grads.pointer, count: grads.count)
        let scale: Float = 0.37
        let scaled = FlatBuffer(count: table.count)
        for i in 0..<grads.count { scaled.pointer[i] = grads.pointer[i] * scale }
        let hyper = AdamW.Hyperparameters(beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01)
        let a = FlatBuffer(count: table.count), b = FlatBuffer(count: table.count)
        a.pointer.update(from: start.pointer, count: start.count)
        b.pointer.update(from: start.pointer, count: start.count)
        let optA = AdamW(table: table, hyper: hyper), optB = AdamW(table: table, hyper: hyper)
        for _ in 0..<2 {
            optA.update(params: a, grads: grads, learningRates: [1e-2, 1e-2], gradientScale: scale)
            optB.update(params: b, grads: scaled, learningRates: [1e-2, 1e-2])
        }
        XCTAssertEqual(a.toArray(), b.toArray())
        XCTAssertEqual(optA.expAvgSq.toArray(), optB.expAvgSq.toArray())
        XCTAssertNotEqual(a.toArray(), start.toArray())
    }

    func testZeroLearningRateStillUpdatesMoments() throws {
        var table = ParameterTable()
        try table.addWeight("w", shape: [2])
        let params = FlatBuffer(count: 2), grads = FlatBuffer(count: 2)
        params.pointer[0] = 1; params.pointer[1] = 2
        grads.pointer[0] = 0.5; grads.pointer[1] = -1
        let opt = AdamW(table: table)
        opt.update(params: params, grads: grads, learningRates: [0])
        XCTAssertEqual(params.toArray(), [1, 2])
        XCTAssertEqual(opt.expAvg.pointer[0], 0.05, accuracy: 1e-7)
        XCTAssertEqual(opt.expAvgSq.pointer[1], 0.001, accuracy: 1e-7)
        XCTAssertEqual(opt.step, 1)
    }

    /// Biases are not decayed: with zero gradient a bias stays, a weight shrinks by lr·wd.
    func testDecayOnlyOnDecayedEntries() throws {
        var table = ParameterTable()
        try table.addWeight("w", shape: [2])
        try table.addBias("b", count: 2)
        let params = FlatBuffer(count: 4), grads = FlatBuffer(count: 4)
        for i in 0..<4 { params.pointer[i] = 1 }
        let opt = AdamW(table: table, hyper: .init(weightDecay: 0.5))
        opt.update(params: params, grads: grads, learningRates: [0.1, 0.1])
        XCTAssertEqual(params.pointer[0], 0.95, accuracy: 1e-7)
        XCTAssertEqual(params.pointer[2], 1)
    }
}
