#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Softmax cross-entropy over the rows of a logit matrix, rows with label < 0 ignored.
public enum CrossEntropy {
    /// Writes probs[rows, classes] = softmax(logits) and returns Σ over labelled rows of
    /// −log p[label] (a sum: the caller divides by the global count, DESIGN §3).
    /// Also returns the number of labelled rows whose arg-max equals the label.
    public static func forward(probs: UnsafeMutablePointer<Float>, logits: UnsafePointer<Float>,
                               labels: UnsafePointer<Int32>, rows: Int, classes: Int)
        -> (lossSum: Double, correct: Int) {
        var total = 0.0
        var correct = 0
        for r in 0..<rows {
            let z = logits + r * classes
            let p = probs + r * classes
            var mx = -Float.infinity
            var arg = 0
            for c in 0..<classes where z[c] > mx { mx = z[c]; arg = c }
            var sum: Double = 0
            for c in 0..<classes {
                let e = expf(z[c] - mx)
                p[c] = e
                sum += Double(e)
            }
            let inv = Float(1 / sum)
            for c in 0..<classes { p[c] *= inv }
            let label = Int(labels[r])
            if label >= 0 {
                precondition(label < classes, "CrossEntropy: label \(label) out of range")
                total += log(sum) - Double(z[label] - mx)
                if arg == label { correct += 1 }
            }
        }
        return (total, correct)
    }

    /// dLogits += scale · (probs − onehot(label)) for labelled rows.
    public static func backward(dLogits: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>,
                                labels: UnsafePointer<Int32>, rows: Int, classes: Int, scale: Float) {
        for r in 0..<rows {
            let label = Int(labels[r])
            guard label >= 0 else { continue }
            let p = probs + r * classes
            let g = dLogits + r * classes
            for c in 0..<classes { g[c] += scale * p[c] }
            g[label] -= scale
        }
    }
}
