#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Softmax cross-entropy over the rows of a logit matrix, rows with label < 0 ignored.
///
/// Two forms. The in-place form (what the MLM head uses) keeps no probability matrix:
/// `forward(logits:…rowStats:)` reads each labelled row twice while it is in L2 (max and arg-max,
/// then Σ exp) and saves the row's max and 1/Σ; `gradientInPlace` then turns the logits into
/// their gradient scale · (softmax − onehot) in one pass, adding the column sums into the bias
/// gradient as it goes. The original form (`forward(probs:…)`, `backward(dLogits:…)`) writes
/// the probabilities out and is kept for callers that want them.
public enum CrossEntropy {
    /// Classes per column block of `gradientInPlace` (a block of every labelled row is one task).
    static let columnBlock = 2048

    /// Max and first arg-max of a row, eight lanes at a time.
    @inline(__always)
    static func maxAndArgMax(_ z: UnsafePointer<Float>, _ classes: Int) -> (Float, Int) {
        var best = VectorMath.V(repeating: -.infinity)
        var bestIndex = SIMD8<Int32>(repeating: 0)
        var index = SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7)
        var c = 0
        while c + 8 <= classes {
            let v = VectorMath.load(z + c)
            let better = v .> best
            best.replace(with: v, where: better)
            bestIndex.replace(with: index, where: better)
            index &+= 8
            c += 8
        }
        var mx = -Float.infinity, arg = 0
        for lane in 0..<8 where best[lane] > mx || (best[lane] == mx && Int(bestIndex[lane]) < arg) {
            mx = best[lane]
            arg = Int(bestIndex[lane])
        }
        while c < classes {
            if z[c] > mx { mx = z[c]; arg = c }
            c += 1
        }
        return (mx, arg)
    }

    /// Σ exp(z − mx) in float64 (float lanes within blocks of 512); writes the exponentials
    /// to `out` when given.
    @inline(__always)
    static func sumExp(_ z: UnsafePointer<Float>, _ classes: Int, _ mx: Float, out: UnsafeMutablePointer<Float>?) -> Double {
        var total: Double = 0
        let m = VectorMath.V(repeating: mx)
        var c = 0
        while c < classes {
            let end = min(classes, c + 512)
            var acc = VectorMath.V()
            while c + 8 <= end {
                let e = VectorMath.exp(VectorMath.load(z + c) - m)
                if let out { VectorMath.store(e, out + c) }
                acc += e
                c += 8
            }
            var s = Double(VectorMath.sum(acc))
            while c < end {
                let e = VectorMath.exp(z[c] - mx)
                out?[c] = e
                s += Double(e)
                c += 1
            }
            total += s
        }
        return total
    }

    /// Runs `body(rowRange)` over the rows in parallel pieces and adds up the (loss, correct)
    /// each returns, piece by piece in order.
    static func sumOverRows(_ rows: Int, classes: Int,
                            _ body: (Range<Int>) -> (Double, Int)) -> (lossSum: Double, correct: Int) {
        let chunks = Parallel.chunkCount(rows * classes, grain: 4 * ElementWise.grain, perThread: 2)
        if chunks <= 1 {
            let (l, c) = body(0..<rows)
            return (l, c)
        }
        if partialCapacity < 2 * chunks {
            partial.deallocate()
            partialCapacity = 2 * chunks
            partial = .allocate(capacity: partialCapacity)
        }
        let partial = self.partial
        Parallel.run(chunks: chunks) { c, _ in
            let (l, k) = body(Parallel.piece(c, of: chunks, count: rows))
            partial[2 * c] = l
            partial[2 * c + 1] = Double(k)
        }
        var total = 0.0, correct = 0
        for c in 0..<chunks {
            total += partial[2 * c]
            correct += Int(partial[2 * c + 1])
        }
        return (total, correct)
    }

    /// Per-piece (loss, correct) of `sumOverRows`; grows only when more pieces are needed.
    private static var partial = UnsafeMutablePointer<Double>.allocate(capacity: 16)
    private static var partialCapacity = 16

    /// Returns Σ over labelled rows of −log softmax(logits)[label] (a sum: the caller divides by
    /// the global count, DESIGN §3) and the number of labelled rows whose arg-max is the label.
    /// Saves rowStats[r] = (max, 1/Σ exp(z − max)) of each labelled row for `gradientInPlace`;
    /// unlabelled rows are not read.
    public static func forward(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows: Int, classes: Int,
                               rowStats: UnsafeMutablePointer<Float>) -> (lossSum: Double, correct: Int) {
        sumOverRows(rows, classes: classes) { range in
            var total = 0.0, correct = 0
            for r in range {
                let label = Int(labels[r])
                guard label >= 0 else { continue }
                precondition(label < classes, "CrossEntropy: label \(label) out of range")
                let z = logits + r * classes
                let (mx, arg) = maxAndArgMax(z, classes)
                let sum = sumExp(z, classes, mx, out: nil)
                rowStats[2 * r] = mx
                rowStats[2 * r + 1] = Float(1 / sum)
                total += log(sum) - Double(z[label] - mx)
                if arg == label { correct += 1 }
            }
            return (total, correct)
        }
    }

    /// In place: logits[r] ← scale · (softmax(logits[r]) − onehot(label)) for labelled rows and 0
    /// for the others, from the `rowStats` of `forward`; adds Σ_r of the result into `dBias`
    /// when given. Column blocks are split over the compute threads.
    public static func gradientInPlace(logits: UnsafeMutablePointer<Float>, rowStats: UnsafePointer<Float>,
                                       labels: UnsafePointer<Int32>, rows: Int, classes: Int, scale: Float,
                                       dBias: UnsafeMutablePointer<Float>?) {
        // rows without a label: zero (their gradient)
        var unlabelled = 0
        for r in 0..<rows where labels[r] < 0 { unlabelled += 1 }
        if unlabelled > 0 {
            Parallel.forRanges(rows, grain: max(1, 8 * ElementWise.grain / max(classes, 1)), align: 1) { range in
                for r in range where labels[r] < 0 { (logits + r * classes).update(repeating: 0, count: classes) }
            }
        }
        if unlabelled == rows { return }
        let blocks = (classes + columnBlock - 1) / columnBlock
        Parallel.run(chunks: blocks) { blockIndex, _ in
            let c0 = blockIndex * columnBlock, c1 = min(classes, c0 + columnBlock)
            for r in 0..<rows {
                let label = Int(labels[r])
                guard label >= 0 else { continue }
                let g = logits + r * classes
                let mx = rowStats[2 * r], k = scale * rowStats[2 * r + 1]
                let m = VectorMath.V(repeating: mx)
                var c = c0
                while c + 8 <= c1 {
                    let v = k * VectorMath.exp(VectorMath.load(g + c) - m)
                    VectorMath.store(v, g + c)
                    c += 8
                }
                while c < c1 { g[c] = k * VectorMath.exp(g[c] - mx); c += 1 }
                if label >= c0 && label < c1 { g[label] -= scale }
                if let dBias {
                    var i = c0
                    while i + 8 <= c1 {
                        VectorMath.store(VectorMath.load(dBias + i) + VectorMath.load(g + i), dBias + i)
                        i += 8
                    }
                    while i < c1 { dBias[i] += g[i]; i += 1 }
                }
            }
        }
    }

    /// Writes probs[rows, classes] = softmax(logits) and returns Σ over labelled rows of
    /// −log p[label] (a sum: the caller divides by the global count, DESIGN §3).
    /// Also returns the number of labelled rows whose arg-max equals the label.
    public static func forward(probs: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                               labels: UnsafePointer<Int32>, rows: Int, classes: Int)
        -> (lossSum: Double, correct: Int) {
        sumOverRows(rows, classes: classes) { range in
            var total = 0.0, correct = 0
            for r in range {
                let z = logits + r * classes
                let p = probs + r * classes
                let (mx, arg) = maxAndArgMax(z, classes)
                let sum = sumExp(z, classes, mx, out: p)
                let inv = Float(1 / sum)
                var c = 0
                while c + 8 <= classes { VectorMath.store(VectorMath.load(p + c) * inv, p + c); c += 8 }
                while c < classes { p[c] *= inv; c += 1 }
                let label = Int(labels[r])
                if label >= 0 {
                    precondition(label < classes, "CrossEntropy: label \(label) out of range")
                    total += log(sum) - Double(z[label] - mx)
                    if arg == label { correct += 1 }
                }
            }
            return (total, correct)
        }
    }

    /// dLogits += scale · (probs − onehot(label)) for labelled rows.
    public static func backward(dLogits: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>,
                                labels: UnsafePointer<Int32>, rows: Int, classes: Int, scale: Float) {
        Parallel.forRanges(rows, grain: max(1, 4 * ElementWise.grain / max(classes, 1)), align: 1) { range in
            for r in range {
                let label = Int(labels[r])
                guard label >= 0 else { continue }
                let p = probs + r * classes
                let g = dLogits + r * classes
                var c = 0
                while c + 8 <= classes {
                    VectorMath.store(VectorMath.load(g + c) + scale * VectorMath.load(p + c), g + c)
                    c += 8
                }
                while c < classes { g[c] += scale * p[c]; c += 1 }
                g[label] -= scale
            }
        }
    }
}
