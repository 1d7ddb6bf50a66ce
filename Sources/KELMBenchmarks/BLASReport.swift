import Foundation
import KELMNumerics

/// What `kelm-dist debug blas` prints: the OpenBLAS kernel family, how it was chosen, and
/// the sgemm rate it reaches.
public struct BLASReport: Sendable {
    public var coreName: String
    public var coreTypeVariable: String?
    public var recommended: String?
    public var reexecuted: Bool
    public var gflops: Double
    public var size: Int
    public var threads: Int

    public static func measure(size: Int, threads: Int) -> BLASReport {
        OpenBLAS.setThreads(threads)
        let peak = SgemmPeak.measure(shapes: [.init(m: size, k: size, n: size)], weights: [1], seconds: 0.5)
        let env = ProcessInfo.processInfo.environment
        return BLASReport(coreName: OpenBLAS.coreName, coreTypeVariable: env["OPENBLAS_CORETYPE"],
                          recommended: OpenBLAS.recommendedCoreType(),
                          reexecuted: env["KELM_OPENBLAS_REEXEC"] == "1",
                          gflops: peak.combinedGflops, size: size, threads: threads)
    }

    /// `key: value` lines, stable for scripts and tests.
    public var text: String {
        [
            "openblas_core: \(coreName)",
            "openblas_coretype_env: \(coreTypeVariable ?? "unset")",
            "recommended_coretype: \(recommended ?? "none")",
            "reexecuted: \(reexecuted)",
            String(format: "sgemm_gflops: %.1f", gflops),
            "sgemm_size: \(size)",
            "threads: \(threads)",
        ].joined(separator: "\n")
    }
}
