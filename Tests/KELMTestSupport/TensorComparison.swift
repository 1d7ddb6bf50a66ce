import Foundation

/// Compares tensors with a reference, the way llm.c checks against PyTorch: every tensor is
/// compared, and the report names the worst one and its largest error.
public struct TensorComparison: CustomStringConvertible {
    public struct Entry {
        public let name: String
        public let count: Int
        public let maxAbsError: Double
        public let maxReference: Double
        public let worstIndex: Int
        /// maxAbsError / (tolerance scale): above 1 fails.
        public let score: Double
    }

    public let absoluteTolerance: Double
    public let relativeTolerance: Double
    public private(set) var entries: [Entry] = []

    /// A tensor passes when max |ours − ref| ≤ absoluteTolerance + relativeTolerance · max |ref|.
    public init(absoluteTolerance: Double, relativeTolerance: Double) {
        self.absoluteTolerance = absoluteTolerance
        self.relativeTolerance = relativeTolerance
    }

    public mutating func compare(_ name: String, ours: UnsafePointer<Float>, reference: [Float]) {
        var worst = 0.0, worstIndex = 0, maxRef = 0.0
        for i in 0..<reference.count {
            let e = abs(Double(ours[i]) - Double(reference[i]))
            if e > worst || e.isNaN { worst = e; worstIndex = i }
            maxRef = max(maxRef, abs(Double(reference[i])))
        }
        let scale = absoluteTolerance + relativeTolerance * maxRef
        entries.append(Entry(name: name, count: reference.count, maxAbsError: worst, maxReference: maxRef,
                             worstIndex: worstIndex, score: worst.isNaN ? .infinity : worst / scale))
    }

    public var worst: Entry? { entries.max { $0.score < $1.score } }
    public var passed: Bool { !entries.isEmpty && entries.allSatisfy { $0.score <= 1 } }

    public var description: String {
        guard let w = worst else { return "no tensors compared" }
        return "\(entries.count) tensors; worst \(w.name) [\(w.worstIndex)]: max |error| \(w.maxAbsError) (max |ref| \(w.maxReference), \(String(format: "%.2f", w.score)) of tolerance)"
    }
}

/// Half precision (`memory.dtype: float16`) tolerances.
public enum HalfPrecision {
    /// |a − b| within `roundings` roundings to half precision of values of b's size: 2^-11
    /// relative each, 2^-25 absolute near zero (half's subnormal spacing is 2^-24).
    public static func within(_ a: Float, _ b: Float, roundings: Int) -> Bool {
        abs(a - b) <= Float(roundings) * 0x1p-11 * max(abs(b), 0x1p-14)
    }
}
