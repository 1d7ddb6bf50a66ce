import XCTest
import KELMNumerics

/// DESIGN §8: with `OPENBLAS_CORETYPE` unset, kelm-dist re-executes itself with the core type
/// of this CPU, so sgemm runs at the fast kernel's speed.
final class OpenBLASCoreTypeTests: XCTestCase {
    func testRecommendedCoreTypeFromFlags() {
        XCTAssertEqual(OpenBLAS.recommendedCoreType(cpuFlags: ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"]), "SkylakeX")
        XCTAssertEqual(OpenBLAS.recommendedCoreType(cpuFlags: ["avx2", "fma", "avx512f"]), "Haswell")
        XCTAssertNil(OpenBLAS.recommendedCoreType(cpuFlags: ["sse4_2"]))
    }

    func testUnsetVariableRunsTheFastKernel() throws {
        guard let expected = OpenBLAS.recommendedCoreType() else {
            throw XCTSkip("this CPU has no known fast OpenBLAS kernel (no AVX2)")
        }
        let fast = try CommandRunner.run(["debug", "blas", "--size", "768"], removing: ["OPENBLAS_CORETYPE"])
        XCTAssertEqual(fast.status, 0, fast.stderr)
        XCTAssertEqual(fast.fields["openblas_core"], expected)
        XCTAssertEqual(fast.fields["reexecuted"], "true")
        XCTAssertEqual(fast.fields["openblas_coretype_env"], expected)

        // The generic kernel OpenBLAS falls back to on this CPU, forced, for comparison.
        let slow = try CommandRunner.run(["debug", "blas", "--size", "768"], setting: ["OPENBLAS_CORETYPE": "Prescott"])
        XCTAssertEqual(slow.status, 0, slow.stderr)
        XCTAssertEqual(slow.fields["openblas_core"], "Prescott")
        XCTAssertEqual(slow.fields["reexecuted"], "false", "a user's setting is kept")
        let fastRate = Double(fast.fields["sgemm_gflops"] ?? "") ?? 0
        let slowRate = Double(slow.fields["sgemm_gflops"] ?? "") ?? .infinity
        XCTAssertGreaterThan(fastRate, 2 * slowRate, "sgemm with the variable unset: \(fastRate) GFLOP/s, generic kernel: \(slowRate) GFLOP/s")
    }
}
