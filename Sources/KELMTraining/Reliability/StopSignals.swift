#if canImport(Glibc)
import Glibc
#endif

/// SIGUSR1 (which mpirun forwards to the ranks; Slurm's `--signal=USR1@120`), SIGINT and
/// SIGTERM ask the run to save a checkpoint at the next step boundary and exit cleanly; during
/// start-up (before the first step: MPI, data, model, the entity-memory fill) to stop there, with
/// nothing to checkpoint. The handler only sets a flag; the ranks agree on it with an all-reduce
/// at each boundary (`TrainingRun`). `train` installs the handlers first thing.
public enum StopSignals {
    private static let flag: UnsafeMutablePointer<sig_atomic_t> = {
        let p = UnsafeMutablePointer<sig_atomic_t>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()
    nonisolated(unsafe) private static var installed = false

    /// Installs the handlers (once).
    public static func install() {
        guard !installed else { return }
        installed = true
        _ = flag
        for s in [SIGUSR1, SIGINT, SIGTERM] {
            signal(s) { number in StopSignals.raiseFlag(number) }
        }
    }

    static func raiseFlag(_ number: Int32) { flag.pointee = sig_atomic_t(number) }

    /// The signal received (0: none).
    public static var received: Int32 { Int32(flag.pointee) }

    /// Pauses every start-up check this many milliseconds (`KELM_DEBUG_STARTUP_PAUSE_MS`, read
    /// once): test instrumentation that makes start-up long enough to be interrupted at random
    /// moments (Tests/reliability), as `KELM_DEBUG_STALL` stalls a step.
    public static let debugStartUpPause: Double = {
        guard let value = getenv("KELM_DEBUG_STARTUP_PAUSE_MS"), let ms = Double(String(cString: value)), ms > 0 else { return 0 }
        return ms / 1000
    }()

    /// Forgets a received signal (tests).
    public static func reset() { flag.pointee = 0 }

    public static func name(_ number: Int32) -> String {
        switch number {
        case SIGUSR1: return "SIGUSR1"
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        default: return "signal \(number)"
        }
    }
}
