import Foundation

extension BenchmarkResult {
    /// A human-readable summary: throughput, FLOP rate against the sgemm peak, and the time
    /// of each phase with its share of the step.
    public var report: String {
        var lines: [String] = []
        let what = benchmark == "lm" ? "masked-LM step" : "fusion-model step"
        lines.append(String(format: "%@: batch %d × %d tokens, logits at %d rows, %d thread(s), OpenBLAS %@",
                            what, batch, tokens, logit_rows, threads, openblas_core))
        lines.append(String(format: "  %.1f tokens/s   %.4f s/step   %.2f GFLOP/step", tokens_per_s, sec_per_step, gflop_per_step))
        lines.append("  (synthetic full shape: every one of the B × T positions is a real token; `train` logs real tokens/s of its data)")
        if let nodes = graph_nodes, let edges = graph_edges, let positives = link_positives {
            lines.append(String(format: "  graph: %d nodes, %d edges, %d link positives; %.2f GFLOP/step counting key, message and edge encoder per edge",
                                nodes, edges, positives, gflop_per_step_model_defined ?? 0))
        }
        lines.append(String(format: "  %.1f GFLOP/s = %.1f%% of the sgemm peak %.1f GFLOP/s on the step's shapes",
                            gflops, 100 * fraction_of_peak, sgemm_peak_gflops))
        for m in sgemm_shapes {
            var line = String(format: "    sgemm %dx%dx%d: %.1f GFLOP/s", m.shape.m, m.shape.k, m.shape.n, m.gflops)
            if let split = m.split_gflops, let native = m.openblas_threaded_gflops {
                line += String(format: " (split over our threads %.1f, OpenBLAS threads %.1f)", split, native)
            }
            lines.append(line)
        }
        lines.append("  phase          s/step   share")
        for (name, s) in phase_seconds.sorted(by: { $0.value > $1.value }) {
            let padded = name.padding(toLength: 12, withPad: " ", startingAt: 0)
            lines.append("  " + padded + String(format: " %8.4f  %5.1f%%", s, 100 * (phase_fraction[name] ?? 0)))
        }
        if let kernels = kernel_seconds {
            lines.append("  kernel                                   s/step   share")
            for (name, s) in kernels.sorted(by: { $0.value > $1.value }) {
                let padded = name.padding(toLength: 38, withPad: " ", startingAt: 0)
                lines.append("  " + padded + String(format: " %8.4f  %5.1f%%", s, 100 * (kernel_fraction?[name] ?? 0)))
            }
        }
        if let calls = sgemm_calls {
            lines.append("  sgemm (outermost calls)          calls/step   s/step   GFLOP/s")
            for c in calls {
                let shape = "\(c.layout) \(c.m)x\(c.n)x\(c.k)".padding(toLength: 30, withPad: " ", startingAt: 0)
                lines.append("    " + shape + String(format: " %8.1f  %8.4f  %7.1f", c.calls_per_step, c.seconds_per_step, c.gflops))
            }
        }
        lines.append(String(format: "  final loss %.4f", final_loss))
        return lines.joined(separator: "\n")
    }
}
