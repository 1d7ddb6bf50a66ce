/// Optional time per kernel (`kelm-dist bench lm|model --kernels`): every kernel entry point
/// reports its wall time here when profiling is on; with it off a kernel pays one branch.
///
/// Only the outermost kernel call is timed (attention's own products count as attention, not
/// as `sgemm`), and only on the thread that starts regions. `sgemm` is also kept per shape and
/// layout, with its FLOP rate. Nothing is allocated while timing (fixed tables).
public enum KernelProfile {
    public enum Kernel: Int, CaseIterable, Sendable {
        case sgemm, attention, gelu, layerNorm, crossEntropy, dropout, elementWise, columnSum, embedding,
             graph, optimizer

        public var name: String {
            switch self {
            case .sgemm: return "sgemm"
            case .attention: return "attention core (QKᵀ, softmax, PV)"
            case .gelu: return "GELU"
            case .layerNorm: return "LayerNorm"
            case .crossEntropy: return "softmax cross-entropy"
            case .dropout: return "dropout"
            case .elementWise: return "element-wise (add, copy, zero, ReLU)"
            case .columnSum: return "bias gradients (column sums)"
            case .embedding: return "embedding lookups"
            case .graph: return "GNN gather/attention/scatter"
            case .optimizer: return "AdamW"
            }
        }
    }

    /// One `sgemm` shape and layout.
    public struct SgemmEntry: Sendable {
        public var transA: Transpose, transB: Transpose
        public var m: Int, n: Int, k: Int
        public var calls: Int
        public var nanoseconds: UInt64
        public var gflops: Double { nanoseconds == 0 ? 0 : 2 * Double(m) * Double(n) * Double(k) * Double(calls) / Double(nanoseconds) }
        public var layout: String { (transA == .none ? "N" : "T") + (transB == .none ? "N" : "T") }
    }

    public private(set) static var enabled = false
    public private(set) static var nanoseconds = [UInt64](repeating: 0, count: Kernel.allCases.count)
    public private(set) static var calls = [Int](repeating: 0, count: Kernel.allCases.count)
    public private(set) static var sgemmShapes: [SgemmEntry] = []
    static let sgemmCapacity = 128
    static var depth = 0

    /// Stops timing, keeping the tables.
    public static func stop() {
        enabled = false
        depth = 0
    }

    /// Starts (clearing the tables) or stops profiling. Call between steps.
    public static func setEnabled(_ on: Bool) {
        enabled = on
        depth = 0
        for i in nanoseconds.indices { nanoseconds[i] = 0; calls[i] = 0 }
        sgemmShapes.removeAll(keepingCapacity: true)
        sgemmShapes.reserveCapacity(sgemmCapacity)
    }

    /// A kernel starts: returns its start time, or 0 when it is not to be timed (profiling off,
    /// a nested call, or a worker thread).
    @inline(__always)
    public static func begin() -> UInt64 {
        guard enabled else { return 0 }
        return beginSlow()
    }

    static func beginSlow() -> UInt64 {
        if Parallel.isActive && Parallel.threadIndex != 0 { return 0 }
        depth += 1
        return depth == 1 ? Profiler.now() : 0
    }

    /// The kernel that `begin` returned `start` for ends.
    @inline(__always)
    public static func end(_ kernel: Kernel, _ start: UInt64) {
        guard enabled else { return }
        endSlow(kernel, start)
    }

    static func endSlow(_ kernel: Kernel, _ start: UInt64) {
        if Parallel.isActive && Parallel.threadIndex != 0 { return }
        depth -= 1
        guard start != 0 else { return }
        nanoseconds[kernel.rawValue] &+= Profiler.now() &- start
        calls[kernel.rawValue] += 1
    }

    /// `sgemm` ends: as `end(.sgemm, start)`, and by shape.
    @inline(__always)
    public static func endSgemm(_ start: UInt64, _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int) {
        guard enabled else { return }
        endSgemmSlow(start, transA, transB, m: m, n: n, k: k)
    }

    static func endSgemmSlow(_ start: UInt64, _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int) {
        if Parallel.isActive && Parallel.threadIndex != 0 { return }
        depth -= 1
        guard start != 0 else { return }
        let ns = Profiler.now() &- start
        nanoseconds[Kernel.sgemm.rawValue] &+= ns
        calls[Kernel.sgemm.rawValue] += 1
        if let i = sgemmShapes.firstIndex(where: { $0.transA == transA && $0.transB == transB && $0.m == m && $0.n == n && $0.k == k }) {
            sgemmShapes[i].calls += 1
            sgemmShapes[i].nanoseconds &+= ns
        } else if sgemmShapes.count < sgemmCapacity {
            sgemmShapes.append(SgemmEntry(transA: transA, transB: transB, m: m, n: n, k: k, calls: 1, nanoseconds: ns))
        }
    }

    public static func seconds(_ kernel: Kernel) -> Double { Double(nanoseconds[kernel.rawValue]) * 1e-9 }
}
