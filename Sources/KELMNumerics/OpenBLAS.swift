import CBLAS
import KELMHost
#if canImport(Glibc)
import Glibc
#endif

/// OpenBLAS's run-time facts and the core-type fix of DESIGN §8.
public enum OpenBLAS {
    /// The kernel family OpenBLAS chose at load time (e.g. "SkylakeX", "Haswell", "Prescott").
    public static var coreName: String {
        guard let p = openblas_get_corename() else { return "unknown" }
        return String(cString: p)
    }

    /// The build configuration string (version, DYNAMIC_ARCH, threading).
    public static var configuration: String {
        guard let p = openblas_get_config() else { return "unknown" }
        return String(cString: p)
    }

    /// The compute threads of this process (`Parallel.threads`).
    public static var threads: Int { Parallel.threads }

    /// Threads OpenBLAS itself would start for one call.
    public static var libraryThreads: Int { Int(openblas_get_num_threads()) }

    /// Sets the compute threads of this process to `n`: `sgemm` splits large products over
    /// them (`SgemmSplit`) and the element-wise kernels, attention and AdamW run on them, while
    /// OpenBLAS is told to use one thread per call (its own threads would compete with these
    /// for the same cores, and busy-wait between calls).
    public static func setThreads(_ n: Int) {
        Parallel.setThreads(max(1, n))
        openblas_set_num_threads(1)
    }

    /// OpenBLAS's own thread count for each call (`openblas_set_num_threads`, process-wide);
    /// `setThreads` sets it to 1. For measuring OpenBLAS's threading (`SgemmPeak`).
    public static func setLibraryThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// The `OPENBLAS_CORETYPE` this CPU should use: "SkylakeX" with AVX-512 (F, BW, DQ, VL),
    /// "Haswell" with AVX2 and FMA, nil otherwise (OpenBLAS's own choice is then kept).
    /// `cpuFlags` defaults to the flags line of /proc/cpuinfo.
    public static func recommendedCoreType(cpuFlags: Set<String>? = nil) -> String? {
        let flags = cpuFlags ?? CPUFlags.current() ?? []
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl"].allSatisfy(flags.contains) { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// DESIGN §8: OpenBLAS reads `OPENBLAS_CORETYPE` when the library loads, so the variable
    /// must be in the environment before the process starts. When the user has not set it and
    /// this CPU has a known fast kernel, set it and re-execute this program (same arguments,
    /// same environment otherwise). Call first thing in `main`, before `MPI_Init`.
    /// Returns normally when nothing needs doing or when re-executing is impossible.
    public static func ensureCoreTypeOrReexecute() {
        guard getenv("OPENBLAS_CORETYPE") == nil, let core = recommendedCoreType() else { return }
        // The re-executed process finds the variable set and goes on: no loop is possible.
        setenv("OPENBLAS_CORETYPE", core, 1)
        // Tells the re-executed process (and `debug blas`) that the variable was set here.
        setenv("KELM_OPENBLAS_REEXEC", "1", 1)
        let argv = CommandLine.unsafeArgv
        execv("/proc/self/exe", argv)
        // execv returns only on failure: continue with the slow kernels rather than stop.
        let message = "kelm-dist: warning: could not re-execute with OPENBLAS_CORETYPE=\(core) (errno \(errno)); sgemm will be slow\n"
        fputs(message, stderr)
    }
}
