import XCTest
import KELMNumerics
import KELMTestSupport

/// Every kernel's backward against central finite differences of its forward.
final class KernelGradientTests: XCTestCase {
    let fd = GradientCheck()

    func assertPasses(_ r: GradientCheck.Report, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(r.passed, r.description, file: file, line: line)
    }

    func testLinear() {
        var rng = TestRandom(seed: 1)
        let rows = 5, inF = 7, outF = 6
        let x = rng.buffer(rows * inF), w = rng.buffer(outF * inF, std: 0.5), b = rng.buffer(outF)
        let r = rng.buffer(rows * outF), y = FlatBuffer(count: rows * outF)
        func loss() -> Double {
            Linear.forward(y: y.pointer, x: x.pointer, weight: w.pointer, bias: b.pointer,
                           rows: rows, inFeatures: inF, outFeatures: outF)
            return weightedSum(y.pointer, r.pointer, count: y.count)
        }
        _ = loss()
        let dx = FlatBuffer(count: x.count), dw = FlatBuffer(count: w.count), db = FlatBuffer(count: b.count)
        Linear.backward(dx: dx.pointer, dWeight: dw.pointer, dBias: db.pointer, dy: r.pointer, x: x.pointer,
                        weight: w.pointer, rows: rows, inFeatures: inF, outFeatures: outF)
        assertPasses(fd.check("linear dx", x: x.pointer, count: x.count, analytic: dx.pointer, loss: loss))
        assertPasses(fd.check("linear dW", x: w.pointer, count: w.count, analytic: dw.pointer, loss: loss))
        assertPasses(fd.check("linear db", x: b.pointer, count: b.count, analytic: db.pointer, loss: loss))
        // backward adds: a second call doubles every gradient
        let dw1 = dw.toArray()
        Linear.backward(dx: nil, dWeight: dw.pointer, dBias: nil, dy: r.pointer, x: x.pointer,
                        weight: w.pointer, rows: rows, inFeatures: inF, outFeatures: outF)
        for i in 0..<dw.count { XCTAssertEqual(dw.pointer[i], 2 * dw1[i], accuracy: 1e-5) }
    }

    func testLinearAgainstNaiveProduct() {
        var rng = TestRandom(seed: 2)
        let rows = 4, inF = 3, outF = 5
        let x = rng.buffer(rows * inF), w = rng.buffer(outF * inF), b = rng.buffer(outF)
        let y = FlatBuffer(count: rows * outF)
        Linear.forward(y: y.pointer, x: x.pointer, weight: w.pointer, bias: b.pointer,
                       rows: rows, inFeatures: inF, outFeatures: outF)
        for r in 0..<rows {
            for o in 0..<outF {
                var s = b.pointer[o]
                for i in 0..<inF { s += x.pointer[r * inF + i] * w.pointer[o * inF + i] }
                XCTAssertEqual(y.pointer[r * outF + o], s, accuracy: 1e-5)
            }
        }
    }

    func testLayerNorm() {
        var rng = TestRandom(seed: 3)
        let rows = 4, width = 9
        let x = rng.buffer(rows * width, std: 2, mean: 0.5), w = rng.buffer(width, std: 0.5, mean: 1)
        let b = rng.buffer(width, std: 0.3), r = rng.buffer(rows * width)
        let y = FlatBuffer(count: x.count), mean = FlatBuffer(count: rows), rstd = FlatBuffer(count: rows)
        func loss() -> Double {
            LayerNorm.forward(y: y.pointer, mean: mean.pointer, rstd: rstd.pointer, x: x.pointer,
                              weight: w.pointer, bias: b.pointer, rows: rows, width: width, eps: 1e-5)
            return weightedSum(y.pointer, r.pointer, count: y.count)
        }
        _ = loss()
        let dx = FlatBuffer(count: x.count), dw = FlatBuffer(count: width), db = FlatBuffer(count: width)
        LayerNorm.backward(dx: dx.pointer, dWeight: dw.pointer, dBias: db.pointer, dy: r.pointer, x: x.pointer,
                           mean: mean.pointer, rstd: rstd.pointer, weight: w.pointer, rows: rows, width: width)
        assertPasses(fd.check("layernorm dx", x: x.pointer, count: x.count, analytic: dx.pointer, loss: loss))
        assertPasses(fd.check("layernorm dw", x: w.pointer, count: width, analytic: dw.pointer, loss: loss))
        assertPasses(fd.check("layernorm db", x: b.pointer, count: width, analytic: db.pointer, loss: loss))
        // forward: each row has mean b-weighted 0 and unit variance before the affine part
        _ = loss()
        var m = 0.0
        for i in 0..<width { m += Double((y.pointer[i] - b.pointer[i]) / w.pointer[i]) }
        XCTAssertEqual(m / Double(width), 0, accuracy: 1e-4)
    }

    func testGELUAndReLU() {
        var rng = TestRandom(seed: 4)
        let n = 40
        let x = rng.buffer(n, std: 2), r = rng.buffer(n), y = FlatBuffer(count: n)
        func geluLoss() -> Double {
            GELU.forward(y: y.pointer, x: x.pointer, count: n)
            return weightedSum(y.pointer, r.pointer, count: n)
        }
        let dx = FlatBuffer(count: n)
        GELU.backward(dx: dx.pointer, dy: r.pointer, x: x.pointer, count: n)
        assertPasses(fd.check("gelu", x: x.pointer, count: n, analytic: dx.pointer, loss: geluLoss))
        // exact erf form: GELU(1) = 0.8413447
        var one: Float = 1, out: Float = 0
        GELU.forward(y: &out, x: &one, count: 1)
        XCTAssertEqual(out, 0.841_344_7, accuracy: 1e-6)

        for i in 0..<n where abs(x.pointer[i]) < 0.05 { x.pointer[i] = 0.5 }  // keep away from the kink
        func reluLoss() -> Double {
            ReLU.forward(y: y.pointer, x: x.pointer, count: n)
            return weightedSum(y.pointer, r.pointer, count: n)
        }
        dx.zero()
        ReLU.backward(dx: dx.pointer, dy: r.pointer, x: x.pointer, count: n)
        assertPasses(fd.check("relu", x: x.pointer, count: n, analytic: dx.pointer, loss: reluLoss))
    }

    func runAttention(dropout: Bool) {
        var rng = TestRandom(seed: dropout ? 6 : 5)
        let B = 2, T = 5, H = 2, dh = 3, d = H * dh
        let qkv = rng.buffer(B * T * 3 * d)
        let mask = IndexBuffer(count: B * T)
        for b in 0..<B { for t in 0..<T { mask.pointer[b * T + t] = (b == 1 && t >= 3) ? 0 : 1 } }
        let probs = FlatBuffer(count: B * H * T * T), dropped = FlatBuffer(count: probs.count)
        let dmask = FlatBuffer(count: probs.count)
        if dropout {
            let samples: [UInt64] = [11, 12]
            samples.withUnsafeBufferPointer { s in
                Dropout.makeMask(mask: dmask.pointer, items: B, perItem: H * T * T, site: 3,
                                 context: DropoutContext(rate: 0.3, seed: 9, epoch: 0, sampleIndices: s.baseAddress!))
            }
        }
        let ctx = FlatBuffer(count: B * T * d), r = rng.buffer(ctx.count)
        func loss() -> Double {
            SelfAttention.forward(ctx: ctx.pointer, probs: probs.pointer,
                                  dropout: dropout ? (UnsafePointer(dmask.pointer), dropped.pointer) : nil, qkv: qkv.pointer,
                                  keyMask: mask.pointer, batch: B, tokens: T, heads: H, headDim: dh)
            return weightedSum(ctx.pointer, r.pointer, count: ctx.count)
        }
        _ = loss()
        // padded keys get probability 0, real rows sum to 1
        for h in 0..<H {
            for i in 0..<T {
                let row = probs.pointer + ((1 * H + h) * T + i) * T
                XCTAssertEqual(row[3], 0)
                XCTAssertEqual(row[4], 0)
                XCTAssertEqual(row[0] + row[1] + row[2], 1, accuracy: 1e-5)
            }
        }
        let dqkv = FlatBuffer(count: qkv.count), scratch = FlatBuffer(count: T * T)
        SelfAttention.backward(dqkv: dqkv.pointer, scratch: scratch.pointer, dctx: r.pointer, qkv: qkv.pointer,
                               probs: probs.pointer, dropout: dropout ? (UnsafePointer(dmask.pointer), dropped.pointer) : nil,
                               batch: B, tokens: T, heads: H, headDim: dh)
        let check = GradientCheck(maxChecks: 200)
        assertPasses(check.check("attention dqkv (dropout \(dropout))", x: qkv.pointer, count: qkv.count,
                                 analytic: dqkv.pointer, loss: loss))
    }

    func testSelfAttention() { runAttention(dropout: false) }
    func testSelfAttentionWithDropout() { runAttention(dropout: true) }

    func testEmbeddingSkipsPadRow() {
        let width = 3, vocab = 5
        var rng = TestRandom(seed: 7)
        let table = rng.buffer(vocab * width)
        let ids = IndexBuffer(count: 4)
        for (i, v) in [2, 0, 2, 4].enumerated() { ids.pointer[i] = Int32(v) }
        let out = FlatBuffer(count: 4 * width), r = rng.buffer(out.count)
        func loss() -> Double {
            Embedding.forward(out: out.pointer, table: table.pointer, ids: ids.pointer, rows: 4, width: width, accumulate: false)
            return weightedSum(out.pointer, r.pointer, count: out.count)
        }
        _ = loss()
        XCTAssertEqual(out.pointer[3 * width + 1], table.pointer[4 * width + 1])
        let dTable = FlatBuffer(count: table.count)
        Embedding.backward(dTable: dTable.pointer, dOut: r.pointer, ids: ids.pointer, rows: 4, width: width)
        assertPasses(fd.check("embedding", x: table.pointer, count: table.count, analytic: dTable.pointer, loss: loss))
        dTable.zero()
        Embedding.backward(dTable: dTable.pointer, dOut: r.pointer, ids: ids.pointer, rows: 4, width: width, skipId: 0)
        for i in 0..<width { XCTAssertEqual(dTable.pointer[i], 0, "pad row must get no gradient") }
        XCTAssertEqual(dTable.pointer[2 * width], r.pointer[0] + r.pointer[2 * width])
    }

    func testCrossEntropy() {
        var rng = TestRandom(seed: 8)
        let rows = 4, classes = 7
        let logits = rng.buffer(rows * classes, std: 2)
        let labels = IndexBuffer(count: rows)
        for (i, v) in [3, -100, 0, 6].enumerated() { labels.pointer[i] = Int32(v) }
        let probs = FlatBuffer(count: logits.count)
        func loss() -> Double {
            CrossEntropy.forward(probs: probs.pointer, logits: logits.pointer, labels: labels.pointer,
                                 rows: rows, classes: classes).lossSum * 0.5
        }
        let value = loss()
        // direct: −log softmax at the label
        var direct = 0.0
        for r in [0, 2, 3] {
            let z = (0..<classes).map { Double(logits.pointer[r * classes + $0]) }
            let lse = log(z.map { exp($0) }.reduce(0, +))
            direct += lse - z[Int(labels.pointer[r])]
        }
        XCTAssertEqual(value, 0.5 * direct, accuracy: 1e-5)
        let d = FlatBuffer(count: logits.count)
        CrossEntropy.backward(dLogits: d.pointer, probs: probs.pointer, labels: labels.pointer,
                              rows: rows, classes: classes, scale: 0.5)
        for c in 0..<classes { XCTAssertEqual(d.pointer[classes + c], 0, "ignored row gets no gradient") }
        assertPasses(fd.check("cross-entropy", x: logits.pointer, count: logits.count, analytic: d.pointer, loss: loss))
    }

    func testDropoutMaskAndBackward() {
        let items = 3, per = 1001
        let samples: [UInt64] = [5, 6, 7]
        let mask = FlatBuffer(count: items * per), again = FlatBuffer(count: items * per)
        samples.withUnsafeBufferPointer { s in
            let ctx = DropoutContext(rate: 0.25, seed: 42, epoch: 1, sampleIndices: s.baseAddress!)
            Dropout.makeMask(mask: mask.pointer, items: items, perItem: per, site: 2, context: ctx)
            Dropout.makeMask(mask: again.pointer, items: items, perItem: per, site: 2, context: ctx)
        }
        XCTAssertEqual(mask.toArray(), again.toArray(), "masks are a pure function of their key")
        let zeros = mask.toArray().filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / Double(mask.count), 0.25, accuracy: 0.03)
        XCTAssertTrue(mask.toArray().allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-6 })
        // the same sample in another batch position gets the same mask
        let moved: [UInt64] = [7]
        let single = FlatBuffer(count: per)
        moved.withUnsafeBufferPointer { s in
            Dropout.makeMask(mask: single.pointer, items: 1, perItem: per, site: 2,
                             context: DropoutContext(rate: 0.25, seed: 42, epoch: 1, sampleIndices: s.baseAddress!))
        }
        XCTAssertEqual(single.toArray(), Array(mask.toArray()[(2 * per)...]))
        // another site gives another mask
        let other = FlatBuffer(count: items * per)
        samples.withUnsafeBufferPointer { s in
            Dropout.makeMask(mask: other.pointer, items: items, perItem: per, site: 3,
                             context: DropoutContext(rate: 0.25, seed: 42, epoch: 1, sampleIndices: s.baseAddress!))
        }
        XCTAssertNotEqual(other.toArray(), mask.toArray())

        var rng = TestRandom(seed: 10)
        let n = 30
        let x = rng.buffer(n), r = rng.buffer(n), y = FlatBuffer(count: n)
        func loss() -> Double {
            Dropout.forward(y: y.pointer, x: x.pointer, mask: mask.pointer, count: n)
            return weightedSum(y.pointer, r.pointer, count: n)
        }
        let dx = FlatBuffer(count: n)
        Dropout.backward(dx: dx.pointer, dy: r.pointer, mask: mask.pointer, count: n)
        assertPasses(fd.check("dropout", x: x.pointer, count: n, analytic: dx.pointer, loss: loss))
    }
}

/// Every backward adds into its gradient buffers (micro-batches accumulate): a second call on
/// the same inputs adds the same amount again.
final class BackwardAccumulatesTests: XCTestCase {
    /// Runs `backward` into buffers holding `start`, twice, and checks start + 2·(single call).
    func assertAccumulates(_ label: String, _ buffers: [FlatBuffer], _ backward: () -> Void,
                           file: StaticString = #filePath, line: UInt = #line) {
        var rng = TestRandom(seed: 99)
        let starts = buffers.map { b -> [Float] in rng.fill(b.pointer, count: b.count); return b.toArray() }
        backward()
        let once = buffers.map { $0.toArray() }
        backward()
        for (k, b) in buffers.enumerated() {
            for i in 0..<b.count {
                let expected = starts[k][i] + 2 * (once[k][i] - starts[k][i])
                XCTAssertEqual(b.pointer[i], expected, accuracy: 1e-4, "\(label) buffer \(k)[\(i)]", file: file, line: line)
            }
        }
    }

    func testAllKernels() {
        var rng = TestRandom(seed: 1)
        let rows = 3, width = 5
        let x = rng.buffer(rows * width), dy = rng.buffer(rows * width), w = rng.buffer(width, mean: 1), b = rng.buffer(width)
        let y = FlatBuffer(count: x.count), mean = FlatBuffer(count: rows), rstd = FlatBuffer(count: rows)
        LayerNorm.forward(y: y.pointer, mean: mean.pointer, rstd: rstd.pointer, x: x.pointer, weight: w.pointer,
                          bias: b.pointer, rows: rows, width: width, eps: 1e-5)
        let dx = FlatBuffer(count: x.count), dw = FlatBuffer(count: width), db = FlatBuffer(count: width)
        assertAccumulates("layernorm", [dx, dw, db]) {
            LayerNorm.backward(dx: dx.pointer, dWeight: dw.pointer, dBias: db.pointer, dy: dy.pointer, x: x.pointer,
                               mean: mean.pointer, rstd: rstd.pointer, weight: w.pointer, rows: rows, width: width)
        }
        let W = rng.buffer(4 * width), dW = FlatBuffer(count: W.count), dB4 = FlatBuffer(count: 4), dy4 = rng.buffer(rows * 4)
        assertAccumulates("linear", [dx, dW, dB4]) {
            Linear.backward(dx: dx.pointer, dWeight: dW.pointer, dBias: dB4.pointer, dy: dy4.pointer, x: x.pointer,
                            weight: W.pointer, rows: rows, inFeatures: width, outFeatures: 4)
        }
        assertAccumulates("gelu", [dx]) { GELU.backward(dx: dx.pointer, dy: dy.pointer, x: x.pointer, count: x.count) }
        assertAccumulates("relu", [dx]) { ReLU.backward(dx: dx.pointer, dy: dy.pointer, x: x.pointer, count: x.count) }
        assertAccumulates("dropout", [dx]) { Dropout.backward(dx: dx.pointer, dy: dy.pointer, mask: w.pointer, count: width) }
        let ids = IndexBuffer(count: rows)
        for (i, v) in [1, 0, 3].enumerated() { ids.pointer[i] = Int32(v) }
        let table = FlatBuffer(count: 4 * width)
        assertAccumulates("embedding", [table]) {
            Embedding.backward(dTable: table.pointer, dOut: dy.pointer, ids: ids.pointer, rows: rows, width: width, skipId: 0)
        }
        let labels = IndexBuffer(count: rows)
        for (i, v) in [2, -100, 4].enumerated() { labels.pointer[i] = Int32(v) }
        let probs = FlatBuffer(count: x.count)
        _ = CrossEntropy.forward(probs: probs.pointer, logits: x.pointer, labels: labels.pointer, rows: rows, classes: width)
        assertAccumulates("cross-entropy", [dx]) {
            CrossEntropy.backward(dLogits: dx.pointer, probs: probs.pointer, labels: labels.pointer, rows: rows, classes: width, scale: 0.7)
        }
        let B = 1, T = 3, H = 1, dh = 2
        let qkv = rng.buffer(B * T * 3 * H * dh), mask = IndexBuffer(count: T)
        for t in 0..<T { mask.pointer[t] = 1 }
        let attnProbs = FlatBuffer(count: T * T), ctx = FlatBuffer(count: T * dh), dctx = rng.buffer(T * dh)
        SelfAttention.forward(ctx: ctx.pointer, probs: attnProbs.pointer, dropout: nil, qkv: qkv.pointer,
                              keyMask: mask.pointer, batch: B, tokens: T, heads: H, headDim: dh)
        let dqkv = FlatBuffer(count: qkv.count), scratch = FlatBuffer(count: T * T)
        assertAccumulates("attention", [dqkv]) {
            SelfAttention.backward(dqkv: dqkv.pointer, scratch: scratch.pointer, dctx: dctx.pointer, qkv: qkv.pointer,
                                   probs: attnProbs.pointer, dropout: nil, batch: B, tokens: T, heads: H, headDim: dh)
        }
    }
}
