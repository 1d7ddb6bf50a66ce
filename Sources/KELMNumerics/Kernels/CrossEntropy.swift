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

    /// What `forward` does to one row: with `probs`, writes softmax(z) there (every row); else
    /// saves (max, 1/Σ exp) in `rowStats` (labelled rows only).
    struct RowJob {
        let logits: UnsafePointer<Float>
        let labels: UnsafePointer<Int32>
        let classes: Int
        let rowStats: UnsafeMutablePointer<Float>?
        let probs: UnsafeMutablePointer<Float>?
    }

    /// Row r of `job`: its loss and whether the arg-max is the label ((0, false) unlabelled).
    @inline(__always)
    static func row(_ job: RowJob, _ r: Int) -> (Double, Bool) {
        let classes = job.classes, label = Int(job.labels[r])
        if job.probs == nil && label < 0 { return (0, false) }
        precondition(label < classes, "CrossEntropy: label \(label) out of range")
        let z = job.logits + r * classes
        let (mx, arg) = maxAndArgMax(z, classes)
        let sum: Double
        if let probs = job.probs {
            let p = probs + r * classes
            sum = sumExp(z, classes, mx, out: p)
            let inv = Float(1 / sum)
            var c = 0
            while c + 8 <= classes { VectorMath.store(VectorMath.load(p + c) * inv, p + c); c += 8 }
            while c < classes { p[c] *= inv; c += 1 }
        } else {
            sum = sumExp(z, classes, mx, out: nil)
        }
        if let stats = job.rowStats {
            stats[2 * r] = mx
            stats[2 * r + 1] = Float(1 / sum)
        }
        if label < 0 { return (0, false) }
        return (log(sum) - Double(z[label] - mx), arg == label)
    }

    /// Runs `job` on every row, in parallel pieces, and adds up the (loss, hit) of the rows in
    /// row order (so the sum does not depend on the number of threads).
    static func sumOverRows(_ job: RowJob, rows: Int) -> (lossSum: Double, correct: Int) {
        let chunks = Parallel.chunkCount(rows * job.classes, grain: 4 * ElementWise.grain, perThread: 2)
        var total = 0.0, correct = 0
        if chunks <= 1 {
            for r in 0..<rows {
                let (l, h) = row(job, r)
                total += l
                if h { correct += 1 }
            }
            return (total, correct)
        }
        if perRowCapacity < 2 * rows {
            perRow.deallocate()
            perRowCapacity = 2 * rows
            perRow = .allocate(capacity: perRowCapacity)
        }
        typealias State = (job: RowJob, results: UnsafeMutablePointer<Double>, rows: Int, chunks: Int)
        Parallel.run(chunks: chunks, with: State(job, perRow, rows, chunks)) { raw, c, _ in
            let s = raw.load(as: State.self)
            for r in Parallel.piece(c, of: s.chunks, count: s.rows) {
                let (l, h) = CrossEntropy.row(s.job, r)
                s.results[2 * r] = l
                s.results[2 * r + 1] = h ? 1 : 0
            }
        }
        for r in 0..<rows {
            total += perRow[2 * r]
            correct += Int(perRow[2 * r + 1])
        }
        return (total, correct)
    }

    /// Per-row (loss, hit) of `sumOverRows`; grows only when more rows come.
    private static var perRow = UnsafeMutablePointer<Double>.allocate(capacity: 2048)
    private static var perRowCapacity = 2048

    /// One row: −log softmax(z)[label] and whether the arg-max (first of equal maxima) is the
    /// label, computed exactly as `forward` computes each row (so sums of these equal its sums).
    public static func rowLoss(_ z: UnsafePointer<Float>, classes: Int, label: Int) -> (loss: Double, hit: Bool) {
        precondition(label >= 0 && label < classes, "CrossEntropy: label \(label) out of range")
        let (mx, arg) = maxAndArgMax(z, classes)
        let sum = sumExp(z, classes, mx, out: nil)
        return (log(sum) - Double(z[label] - mx), arg == label)
    }

    /// Returns Σ over labelled rows of −log softmax(logits)[label] (a sum: the caller divides by
    /// the global count, DESIGN §3) and the number of labelled rows whose arg-max is the label.
    /// Saves rowStats[r] = (max, 1/Σ exp(z − max)) of each labelled row for `gradientInPlace`;
    /// unlabelled rows are not read.
    public static func forward(logits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, rows: Int, classes: Int,
                               rowStats: UnsafeMutablePointer<Float>) -> (lossSum: Double, correct: Int) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.crossEntropy, kp) }
        return sumOverRows(RowJob(logits: logits, labels: labels, classes: classes, rowStats: rowStats, probs: nil), rows: rows)
    }

    /// In place: logits[r] ← scale · (softmax(logits[r]) − onehot(label)) for labelled rows and 0
    /// for the others, from the `rowStats` of `forward`; adds Σ_r of the result into `dBias`
    /// when given. Column blocks are split over the compute threads.
    public static func gradientInPlace(logits: UnsafeMutablePointer<Float>, rowStats: UnsafePointer<Float>,
                                       labels: UnsafePointer<Int32>, rows: Int, classes: Int, scale: Float,
                                       dBias: UnsafeMutablePointer<Float>?) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.crossEntropy, kp) }
        // rows without a label: zero (their gradient)
        var unlabelled = 0
        for r in 0..<rows where labels[r] < 0 { unlabelled += 1 }
        if unlabelled > 0 {
            typealias Zero = (logits: UnsafeMutablePointer<Float>, labels: UnsafePointer<Int32>, classes: Int)
            Parallel.forRanges(rows, grain: max(1, 8 * ElementWise.grain / max(classes, 1)), align: 1,
                               with: Zero(logits, labels, classes)) { raw, lower, upper in
                let s = raw.load(as: Zero.self)
                for r in lower..<upper where s.labels[r] < 0 {
                    (s.logits + r * s.classes).update(repeating: 0, count: s.classes)
                }
            }
        }
        if unlabelled == rows { return }
        typealias State = (logits: UnsafeMutablePointer<Float>, rowStats: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                           rows: Int, classes: Int, scale: Float, dBias: UnsafeMutablePointer<Float>?)
        let blocks = (classes + columnBlock - 1) / columnBlock
        Parallel.run(chunks: blocks, with: State(logits, rowStats, labels, rows, classes, scale, dBias)) { raw, blockIndex, _ in
            let s = raw.load(as: State.self)
            let c0 = blockIndex * CrossEntropy.columnBlock, c1 = min(s.classes, c0 + CrossEntropy.columnBlock)
            for r in 0..<s.rows {
                let label = Int(s.labels[r])
                guard label >= 0 else { continue }
                let g = s.logits + r * s.classes
                let mx = s.rowStats[2 * r], k = s.scale * s.rowStats[2 * r + 1]
                let m = VectorMath.V(repeating: mx)
                var c = c0
                while c + 8 <= c1 {
                    let v = k * VectorMath.exp(VectorMath.load(g + c) - m)
                    VectorMath.store(v, g + c)
                    c += 8
                }
                while c < c1 { g[c] = k * VectorMath.exp(g[c] - mx); c += 1 }
                if label >= c0 && label < c1 { g[label] -= s.scale }
                if let dBias = s.dBias {
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
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.crossEntropy, kp) }
        return sumOverRows(RowJob(logits: logits, labels: labels, classes: classes, rowStats: nil, probs: probs), rows: rows)
    }

    /// dLogits += scale · (probs − onehot(label)) for labelled rows.
    public static func backward(dLogits: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>,
                                labels: UnsafePointer<Int32>, rows: Int, classes: Int, scale: Float) {
        let kp = KernelProfile.begin()
        defer { KernelProfile.end(.crossEntropy, kp) }
        typealias State = (dLogits: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                           classes: Int, scale: Float)
        Parallel.forRanges(rows, grain: max(1, 4 * ElementWise.grain / max(classes, 1)), align: 1,
                           with: State(dLogits, probs, labels, classes, scale)) { raw, lower, upper in
            let s = raw.load(as: State.self)
            for r in lower..<upper {
                let label = Int(s.labels[r])
                guard label >= 0 else { continue }
                let p = s.probs + r * s.classes
                let g = s.dLogits + r * s.classes
                var c = 0
                while c + 8 <= s.classes {
                    VectorMath.store(VectorMath.load(g + c) + s.scale * VectorMath.load(p + c), g + c)
                    c += 8
                }
                while c < s.classes { g[c] += s.scale * p[c]; c += 1 }
                g[label] -= s.scale
            }
        }
    }
}
