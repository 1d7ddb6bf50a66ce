import XCTest
import KELMNumerics
import KELMTestSupport

/// The compute threads, and every kernel that uses them: with 2 and 3 threads each gives
/// what it gives on one (bit for bit where nothing is summed across the split, within
/// rounding where partial sums are added in another order).
final class ParallelKernelTests: XCTestCase {
    override func tearDown() {
        Parallel.setThreads(1)
        super.tearDown()
    }

    /// Runs `body` on 1, 2 and 3 threads and returns what each produced.
    func onThreadCounts(_ body: () -> [Float]) -> [[Float]] {
        var out: [[Float]] = []
        for t in [1, 2, 3] {
            Parallel.setThreads(t)
            out.append(body())
        }
        Parallel.setThreads(1)
        return out
    }

    func assertSame(_ runs: [[Float]], tolerance: Float = 0, _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) {
        for r in runs.dropFirst() {
            XCTAssertEqual(r.count, runs[0].count, what, file: file, line: line)
            var worst: Float = 0
            for i in 0..<r.count { worst = max(worst, abs(r[i] - runs[0][i]) / max(1, abs(runs[0][i]))) }
            XCTAssertLessThanOrEqual(worst, tolerance, "\(what): differs by \(worst)", file: file, line: line)
        }
    }

    func testRunVisitsEveryChunkOnce() {
        for t in [1, 2, 3, 4] {
            Parallel.setThreads(t)
            XCTAssertEqual(Parallel.threads, t)
            let counts = FlatBuffer(count: 100)
            var threadsSeen = Set<Int>()
            let seen = IndexBuffer(count: 100), nested = FlatBuffer(count: 100)
            typealias State = (counts: UnsafeMutablePointer<Float>, seen: UnsafeMutablePointer<Int32>,
                               nested: UnsafeMutablePointer<Float>)
            Parallel.run(chunks: 100, with: State(counts.pointer, seen.pointer, nested.pointer)) { raw, c, thread in
                let s = raw.load(as: State.self)
                s.counts[c] += 1
                s.seen[c] = Int32(thread)
                // nested regions run serially on the calling thread
                typealias Inner = (nested: UnsafeMutablePointer<Float>, chunk: Int, thread: Int)
                Parallel.run(chunks: 3, with: Inner(s.nested, c, thread)) { raw, _, inner in
                    let i = raw.load(as: Inner.self)
                    if inner == i.thread { i.nested[i.chunk] += 1 }
                }
            }
            for c in 0..<100 {
                XCTAssertEqual(counts.pointer[c], 1)
                XCTAssertEqual(nested.pointer[c], 3)
                threadsSeen.insert(Int(seen.pointer[c]))
            }
            XCTAssertTrue(threadsSeen.allSatisfy { $0 < t })
            // pieces cover 0..<count exactly, aligned
            for (count, chunks) in [(1000, 3), (17, 4), (64, 64)] {
                var next = 0
                for c in 0..<chunks {
                    let r = Parallel.piece(c, of: chunks, count: count, align: 16)
                    XCTAssertEqual(r.lowerBound, next)
                    if c < chunks - 1 { XCTAssertEqual(r.upperBound % 16, 0) }
                    next = r.upperBound
                }
                XCTAssertEqual(next, count)
            }
        }
    }

    func testSgemmSplitMatchesOneThread() {
        var rng = TestRandom(seed: 40)
        // tall (rows split), wide (columns split) and deep (k split) products, all four layouts, strided
        for (m, n, k) in [(300, 70, 90), (70, 333, 65), (70, 40, 3000)] {
            for ta in [Transpose.none, .transposed] {
                for tb in [Transpose.none, .transposed] {
                    let lda = (ta == .none ? k : m) + 3, ldb = (tb == .none ? n : k) + 1, ldc = n + 5
                    let a = rng.buffer((ta == .none ? m : k) * lda), b = rng.buffer((tb == .none ? k : n) * ldb)
                    let c0 = rng.buffer(m * ldc)
                    let saved = SgemmSplit.minimumMultiplyAdds
                    SgemmSplit.minimumMultiplyAdds = 1
                    let runs = onThreadCounts {
                        let c = FlatBuffer(count: c0.count)
                        c.pointer.update(from: c0.pointer, count: c0.count)
                        sgemm(ta, tb, m: m, n: n, k: k, alpha: 0.5, a: a.pointer, lda: lda, b: b.pointer, ldb: ldb,
                              beta: 1, c: c.pointer, ldc: ldc)
                        return c.toArray()
                    }
                    SgemmSplit.minimumMultiplyAdds = saved
                    assertSame(runs, tolerance: k > 1000 ? 2e-4 : 1e-5, "sgemm \(m)x\(n)x\(k) \(ta) \(tb)")
                }
            }
        }
    }

    func testElementWiseKernels() {
        var rng = TestRandom(seed: 41)
        let n = 200_003
        let x = rng.buffer(n, std: 2), dy = rng.buffer(n), mask = rng.buffer(n), dx0 = rng.buffer(n)
        assertSame(onThreadCounts {
            let y = FlatBuffer(count: n), dx = FlatBuffer(count: n)
            dx.pointer.update(from: dx0.pointer, count: n)
            let start = dx.toArray()
            GELU.forward(y: y.pointer, x: x.pointer, count: n)
            GELU.backward(dx: dx.pointer, dy: dy.pointer, x: x.pointer, count: n)
            let viaY = FlatBuffer(count: n)
            GELU.backward(dx: viaY.pointer, dy: dy.pointer, x: x.pointer, y: y.pointer, count: n, accumulate: false)
            // overwrite mode and the y form give dx − start to within rounding
            var worst: Float = 0
            for i in 0..<n { worst = max(worst, abs(viaY.pointer[i] - (dx.pointer[i] - start[i])) / max(1, abs(dx.pointer[i]))) }
            XCTAssertLessThan(worst, 2e-6)
            let r = FlatBuffer(count: n), s = FlatBuffer(count: n)
            ReLU.forward(y: r.pointer, x: x.pointer, count: n)
            ReLU.backward(dx: s.pointer, dy: dy.pointer, x: x.pointer, count: n)
            ElementWise.accumulateProduct(s.pointer, dy.pointer, mask.pointer, count: n)
            ElementWise.add(y: r.pointer, r.pointer, s.pointer, count: n)
            return y.toArray() + dx.toArray() + r.toArray()
        }, "GELU, ReLU, element-wise")
    }

    func testLayerNormAndColumnSum() {
        var rng = TestRandom(seed: 42)
        let rows = 301, width = 100
        let x = rng.buffer(rows * width, std: 2, mean: 0.3), w = rng.buffer(width, mean: 1), b = rng.buffer(width)
        let dy = rng.buffer(rows * width)
        let runs = onThreadCounts {
            let y = FlatBuffer(count: rows * width), mean = FlatBuffer(count: rows), rstd = FlatBuffer(count: rows)
            LayerNorm.forward(y: y.pointer, mean: mean.pointer, rstd: rstd.pointer, x: x.pointer, weight: w.pointer,
                              bias: b.pointer, rows: rows, width: width, eps: 1e-5)
            let dx = FlatBuffer(count: rows * width), dw = FlatBuffer(count: width), db = FlatBuffer(count: width)
            LayerNorm.backward(dx: dx.pointer, dWeight: dw.pointer, dBias: db.pointer, dy: dy.pointer, x: x.pointer,
                               mean: mean.pointer, rstd: rstd.pointer, weight: w.pointer, rows: rows, width: width)
            // overwrite mode = zeroed + accumulate
            let dx2 = rng.buffer(rows * width)
            LayerNorm.backward(dx: dx2.pointer, dWeight: nil, dBias: nil, dy: dy.pointer, x: x.pointer,
                               mean: mean.pointer, rstd: rstd.pointer, weight: w.pointer, rows: rows, width: width,
                               accumulate: false)
            XCTAssertEqual(dx2.toArray(), dx.toArray())
            let cs = FlatBuffer(count: width)
            ColumnSum.add(into: cs.pointer, from: dy.pointer, rows: rows, columns: width)
            return y.toArray() + dx.toArray() + dw.toArray() + db.toArray() + cs.toArray()
        }
        assertSame(runs, tolerance: 1e-5, "LayerNorm, column sums")
    }

    /// The in-place cross-entropy gradient equals the one through a probability matrix.
    func testCrossEntropyInPlace() {
        var rng = TestRandom(seed: 43)
        let rows = 37, classes = 3001
        let logits = rng.buffer(rows * classes, std: 3)
        let labels = IndexBuffer(count: rows)
        for r in 0..<rows { labels.pointer[r] = r % 3 == 0 ? -100 : Int32(rng.int(below: classes)) }
        let runs = onThreadCounts {
            let probs = FlatBuffer(count: rows * classes), d = FlatBuffer(count: rows * classes)
            let ref = CrossEntropy.forward(probs: probs.pointer, logits: logits.pointer, labels: labels.pointer,
                                           rows: rows, classes: classes)
            CrossEntropy.backward(dLogits: d.pointer, probs: probs.pointer, labels: labels.pointer, rows: rows,
                                  classes: classes, scale: 0.3)
            let refBias = FlatBuffer(count: classes)
            ColumnSum.add(into: refBias.pointer, from: d.pointer, rows: rows, columns: classes)
            let g = FlatBuffer(count: rows * classes), stats = FlatBuffer(count: 2 * rows)
            g.pointer.update(from: logits.pointer, count: g.count)
            let ours = CrossEntropy.forward(logits: g.pointer, labels: labels.pointer, rows: rows, classes: classes,
                                            rowStats: stats.pointer)
            XCTAssertEqual(ours.lossSum, ref.lossSum, accuracy: 1e-9 * abs(ref.lossSum))
            XCTAssertEqual(ours.correct, ref.correct)
            XCTAssertEqual(g.toArray(), logits.toArray(), "forward leaves the logits alone")
            let bias = FlatBuffer(count: classes)
            CrossEntropy.gradientInPlace(logits: g.pointer, rowStats: stats.pointer, labels: labels.pointer, rows: rows,
                                         classes: classes, scale: 0.3, dBias: bias.pointer)
            var worst: Float = 0, worstBias: Float = 0
            for i in 0..<(rows * classes) { worst = max(worst, abs(g.pointer[i] - d.pointer[i]) / (1e-6 + abs(d.pointer[i]))) }
            for c in 0..<classes { worstBias = max(worstBias, abs(bias.pointer[c] - refBias.pointer[c])) }
            XCTAssertLessThan(worst, 1e-5)
            XCTAssertLessThan(worstBias, 1e-7)
            for r in 0..<rows where labels.pointer[r] < 0 {
                XCTAssertTrue((0..<classes).allSatisfy { g.pointer[r * classes + $0] == 0 }, "unlabelled row \(r) is 0")
            }
            return [Float(ours.lossSum)] + g.toArray()
        }
        assertSame(runs, tolerance: 1e-6, "cross-entropy")
    }

    func testAttention() {
        var rng = TestRandom(seed: 44)
        let B = 3, T = 19, H = 4, dh = 8, d = H * dh
        let qkv = rng.buffer(B * T * 3 * d), dctx = rng.buffer(B * T * d)
        let mask = IndexBuffer(count: B * T)
        for i in 0..<(B * T) { mask.pointer[i] = i % T < T - (i / T) * 3 ? 1 : 0 }
        let runs = onThreadCounts {
            let ctx = FlatBuffer(count: B * T * d), probs = FlatBuffer(count: B * H * T * T)
            SelfAttention.forward(ctx: ctx.pointer, probs: probs.pointer, dropout: nil, qkv: qkv.pointer,
                                  keyMask: mask.pointer, batch: B, tokens: T, heads: H, headDim: dh)
            let dqkv = FlatBuffer(count: qkv.count), scratch = FlatBuffer(count: T * T)
            SelfAttention.backward(dqkv: dqkv.pointer, scratch: scratch.pointer, dctx: dctx.pointer, qkv: qkv.pointer,
                                   probs: probs.pointer, dropout: nil, batch: B, tokens: T, heads: H, headDim: dh)
            // overwrite mode = zeroed + accumulate
            let dqkv2 = rng.buffer(qkv.count)
            SelfAttention.backward(dqkv: dqkv2.pointer, scratch: scratch.pointer, dctx: dctx.pointer, qkv: qkv.pointer,
                                   probs: probs.pointer, dropout: nil, batch: B, tokens: T, heads: H, headDim: dh,
                                   accumulate: false)
            XCTAssertEqual(dqkv2.toArray(), dqkv.toArray())
            return ctx.toArray() + probs.toArray() + dqkv.toArray()
        }
        assertSame(runs, tolerance: 0, "attention")
    }

    func testLinearOverwriteMode() {
        var rng = TestRandom(seed: 45)
        let rows = 9, inF = 7, outF = 5
        let x = rng.buffer(rows * inF), w = rng.buffer(outF * inF), dy = rng.buffer(rows * outF)
        let a = FlatBuffer(count: rows * inF), b = rng.buffer(rows * inF)
        Linear.backward(dx: a.pointer, dWeight: nil, dBias: nil, dy: dy.pointer, x: x.pointer, weight: w.pointer,
                        rows: rows, inFeatures: inF, outFeatures: outF)
        Linear.backward(dx: b.pointer, dWeight: nil, dBias: nil, dy: dy.pointer, x: x.pointer, weight: w.pointer,
                        rows: rows, inFeatures: inF, outFeatures: outF, accumulateDx: false)
        XCTAssertEqual(a.toArray(), b.toArray())
    }
}
