import Foundation
import KELMNumerics

/// What one benchmark run measured. Field names are the JSON keys.
public struct BenchmarkResult: Codable, Sendable {
    /// "lm" or "model".
    public var benchmark: String
    public var tokens_per_s: Double
    public var sec_per_step: Double
    public var gflops: Double
    public var sgemm_peak_gflops: Double
    public var fraction_of_peak: Double
    public var gflop_per_step: Double
    public var threads: Int
    public var batch: Int
    public var tokens: Int
    public var logit_rows: Int
    public var openblas_core: String
    /// Seconds per step spent in each phase (mean over the timed steps); "other" is the rest.
    public var phase_seconds: [String: Double]
    /// Each phase's share of the mean step time.
    public var phase_fraction: [String: Double]
    public var sgemm_shapes: [SgemmPeak.Measurement]
    public var final_loss: Double
    /// `bench model`: the batch's graph (nodes, edges, link-prediction positives) and the step
    /// counted as the model is written (key, message and edge encoder per edge, FusionFlopCount).
    public var graph_nodes: Int? = nil
    public var graph_edges: Int? = nil
    public var link_positives: Int? = nil
    public var gflop_per_step_model_defined: Double? = nil
    /// With `--kernels`: seconds per step in each kernel (outermost calls; "unattributed" is
    /// the rest of the step: copies and loops in the model code) and its share of the step.
    public var kernel_seconds: [String: Double]? = nil
    public var kernel_fraction: [String: Double]? = nil
    /// With `--kernels`: every sgemm shape of the step (outermost calls).
    public var sgemm_calls: [SgemmCall]? = nil

    public struct SgemmCall: Codable, Sendable {
        public var layout: String
        public var m: Int, n: Int, k: Int
        public var calls_per_step: Double
        public var seconds_per_step: Double
        public var gflops: Double
    }
}

/// The timing loop shared by the benchmarks: warm-up steps, timed steps, per-phase times,
/// then the `sgemm` peak on the step's shapes.
struct BenchmarkLoop {
    var warmupSteps: Int
    var steps: Int
    /// Time every kernel too (`KernelProfile`).
    var profileKernels = false
    let profiler = Profiler()

    /// Runs `step` (which returns the step's loss) warm-up + timed times; returns the timed
    /// steps' seconds and the last loss.
    func run(progress: (String) -> Void, step: () -> Double) -> (times: [Double], lastLoss: Double) {
        var times: [Double] = []
        times.reserveCapacity(steps)
        var lastLoss = 0.0
        for i in 0..<(warmupSteps + steps) {
            if i == warmupSteps {
                profiler.reset()
                if profileKernels { KernelProfile.setEnabled(true) }
            }
            let start = Profiler.now()
            lastLoss = step()
            let seconds = Double(Profiler.now() - start) * 1e-9
            if i >= warmupSteps {
                times.append(seconds)
                progress("step \(i - warmupSteps + 1)/\(steps): \(String(format: "%.3f", seconds)) s, loss \(String(format: "%.4f", lastLoss))")
            }
        }
        KernelProfile.stop()
        return (times, lastLoss)
    }

    /// Summarises a run: median step time, FLOP rate (`flops` per step), the sgemm peak on
    /// `shapes` weighted by `weights`, and the phase breakdown.
    func result(benchmark: String, times: [Double], lastLoss: Double, flops: Double, tokensPerStep: Int,
                shapes: [SgemmPeak.Shape], weights: [Double], threads: Int, batch: Int, tokens: Int,
                logitRows: Int) -> BenchmarkResult {
        let median = times.sorted()[times.count / 2]
        let mean = times.reduce(0, +) / Double(times.count)
        let peak = SgemmPeak.measure(shapes: shapes, weights: weights)
        let gflops = flops / median * 1e-9
        var phaseSeconds: [String: Double] = [:], phaseFraction: [String: Double] = [:]
        for phase in StepPhase.allCases where profiler.seconds(phase) > 0 {
            let s = profiler.seconds(phase) / Double(times.count)
            phaseSeconds[phase.name] = s
            phaseFraction[phase.name] = s / mean
        }
        let rest = max(0, mean - phaseSeconds.values.reduce(0, +))
        phaseSeconds[StepPhase.other.name] = rest
        phaseFraction[StepPhase.other.name] = rest / mean
        var kernelSeconds: [String: Double]? = nil, kernelFraction: [String: Double]? = nil
        var sgemmCalls: [BenchmarkResult.SgemmCall]? = nil
        if profileKernels {
            let n = Double(times.count)
            var ks: [String: Double] = [:], kf: [String: Double] = [:]
            for k in KernelProfile.Kernel.allCases where KernelProfile.calls[k.rawValue] > 0 {
                ks[k.name] = KernelProfile.seconds(k) / n
                kf[k.name] = KernelProfile.seconds(k) / n / mean
            }
            let unattributed = max(0, mean - ks.values.reduce(0, +))
            ks["unattributed"] = unattributed
            kf["unattributed"] = unattributed / mean
            kernelSeconds = ks
            kernelFraction = kf
            sgemmCalls = KernelProfile.sgemmShapes.sorted { $0.nanoseconds > $1.nanoseconds }.map {
                BenchmarkResult.SgemmCall(layout: $0.layout, m: $0.m, n: $0.n, k: $0.k, calls_per_step: Double($0.calls) / n,
                                          seconds_per_step: Double($0.nanoseconds) * 1e-9 / n, gflops: $0.gflops)
            }
        }
        return BenchmarkResult(benchmark: benchmark, tokens_per_s: Double(tokensPerStep) / median, sec_per_step: median,
                               gflops: gflops, sgemm_peak_gflops: peak.combinedGflops,
                               fraction_of_peak: gflops / peak.combinedGflops, gflop_per_step: flops * 1e-9,
                               threads: threads, batch: batch, tokens: tokens, logit_rows: logitRows,
                               openblas_core: OpenBLAS.coreName, phase_seconds: phaseSeconds,
                               phase_fraction: phaseFraction, sgemm_shapes: peak.measurements, final_loss: lastLoss,
                               kernel_seconds: kernelSeconds, kernel_fraction: kernelFraction, sgemm_calls: sgemmCalls)
    }

    /// The LM's weight shapes on B·T rows and their FLOP share per layer: 4 d² (q, k, v, out), d·d_ff, d_ff·d.
    static func lmShapes(rows n: Int, hidden d: Int, ffn ff: Int) -> (shapes: [SgemmPeak.Shape], weights: [Double]) {
        ([.init(m: n, k: d, n: d), .init(m: n, k: d, n: ff), .init(m: n, k: ff, n: d)],
         [4 * Double(d * d), Double(d * ff), Double(ff * d)])
    }
}
