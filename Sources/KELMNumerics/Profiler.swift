#if canImport(Glibc)
import Glibc
#endif

/// The parts of a training step that benchmarks report separately.
public enum StepPhase: Int, CaseIterable, Sendable {
    case embeddings, attention, ffn, heads, gnn, mint, optimizer, communication, other

    public var name: String {
        switch self {
        case .embeddings: return "embeddings"
        case .attention: return "attention"
        case .ffn: return "ffn"
        case .heads: return "heads"
        case .gnn: return "gnn"
        case .mint: return "mint"
        case .optimizer: return "optimizer"
        case .communication: return "communication"
        case .other: return "other"
        }
    }
}

/// Accumulates wall time per phase; nothing is allocated while timing.
public final class Profiler {
    public private(set) var nanoseconds = [UInt64](repeating: 0, count: StepPhase.allCases.count)
    private var started: UInt64 = 0
    private var current: StepPhase? = nil

    public init() {}

    @inlinable public static func now() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Starts timing `phase` (ending the phase being timed, if any).
    public func begin(_ phase: StepPhase) {
        let t = Profiler.now()
        if let current { nanoseconds[current.rawValue] &+= t &- started }
        current = phase
        started = t
    }

    /// Ends the phase being timed.
    public func end() {
        guard let current else { return }
        nanoseconds[current.rawValue] &+= Profiler.now() &- started
        self.current = nil
    }

    public func reset() {
        for i in nanoseconds.indices { nanoseconds[i] = 0 }
        current = nil
    }

    public func seconds(_ phase: StepPhase) -> Double { Double(nanoseconds[phase.rawValue]) * 1e-9 }
}
