import Foundation
import KELMModel
import KELMNumerics

/// `kelm-dist bench lm`: a masked-LM training step (forward, backward, AdamW) on a BERT shape,
/// timed per phase and counted in FLOPs (DESIGN §11).
public struct LMBenchmark {
    public struct Options: Sendable {
        public var config: BertConfig = {
            var c = BertConfig.miniLM
            c.hiddenDropout = 0
            c.attentionDropout = 0
            return c
        }()
        public var batch = 8
        public var tokens = 128
        public var maskFraction = 0.15
        public var allPositions = false
        public var threads = 1
        public var warmupSteps = 3
        public var steps = 15
        public var seed: UInt64 = 0

        public init() {}
    }

    /// What one run measured. Field names are the JSON keys.
    public struct Result: Codable, Sendable {
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
        /// Seconds per step spent in each phase (median step's neighbourhood: mean over the timed steps).
        public var phase_seconds: [String: Double]
        /// Each phase's share of the mean step time.
        public var phase_fraction: [String: Double]
        public var sgemm_shapes: [SgemmPeak.Measurement]
        public var final_loss: Double
    }

    public let options: Options

    public init(options: Options) { self.options = options }

    /// Fills a batch of random ids with whole positions masked at `maskFraction` per segment.
    static func fillBatch(_ batch: TokenBatch, config c: BertConfig, maskFraction: Double, seed: UInt64) {
        var rng = RandomStream(RandomKey(seed: seed, purpose: .benchmark))
        let T = batch.tokens
        let maskId: Int32 = c.vocabSize > 103 ? 103 : 1
        for b in 0..<batch.batch {
            batch.sampleIndices[b] = UInt64(b)
            for t in 0..<T {
                let i = b * T + t
                batch.attentionMask.pointer[i] = 1
                batch.labels.pointer[i] = -100
                batch.inputIds.pointer[i] = t == 0 ? 101 % Int32(c.vocabSize)
                    : t == T - 1 ? 102 % Int32(c.vocabSize)
                    : Int32(min(999, c.vocabSize / 2) + rng.nextInt(below: c.vocabSize - min(999, c.vocabSize / 2)))
            }
            let budget = max(1, Int((maskFraction * Double(T - 2) + 0.5).rounded(.down)))
            var masked = 0
            while masked < budget {
                let t = 1 + rng.nextInt(below: T - 2)
                let i = b * T + t
                if batch.labels.pointer[i] >= 0 { continue }
                batch.labels.pointer[i] = batch.inputIds.pointer[i]
                batch.inputIds.pointer[i] = maskId
                masked += 1
            }
        }
    }

    /// Runs the benchmark; `progress` receives a line per timed step.
    public func run(progress: (String) -> Void = { _ in }) throws -> Result {
        let o = options, c = o.config
        OpenBLAS.setThreads(o.threads)
        let model = try BertMaskedLM(config: c, maxBatch: o.batch, maxTokens: o.tokens,
                                     logits: o.allPositions ? .all : .masked)
        try model.initializeParameters(seed: o.seed)
        let batch = TokenBatch(capacityBatch: o.batch, capacityTokens: o.tokens)
        Self.fillBatch(batch, config: c, maskFraction: o.maskFraction, seed: o.seed)
        let optimizer = AdamW(table: model.store.table)
        let rates = [Float](repeating: 1e-4, count: model.store.table.entries.count)
        let profiler = Profiler()
        let mode = ForwardMode(dropout: false, seed: o.seed)
        var times: [Double] = []
        times.reserveCapacity(o.steps)
        var lastLoss = 0.0
        for step in 0..<(o.warmupSteps + o.steps) {
            if step == o.warmupSteps { profiler.reset() }
            let start = Profiler.now()
            let out = model.forward(batch, mode: mode, profiler: profiler)
            model.backward(batch, scale: Float(1 / Double(max(out.count, 1))),
                           sinks: .all(model.store.grads.pointer), profiler: profiler)
            profiler.begin(.optimizer)
            optimizer.update(params: model.store.values, grads: model.store.grads, learningRates: rates)
            model.store.zeroGrads()
            profiler.end()
            let seconds = Double(Profiler.now() - start) * 1e-9
            lastLoss = out.meanLoss
            if step >= o.warmupSteps {
                times.append(seconds)
                progress("step \(step - o.warmupSteps + 1)/\(o.steps): \(String(format: "%.3f", seconds)) s, loss \(String(format: "%.4f", out.meanLoss))")
            }
        }
        let median = times.sorted()[times.count / 2]
        let mean = times.reduce(0, +) / Double(times.count)
        let rows = model.head.selectedRows
        let flops = LMFlopCount(config: c, batch: o.batch, tokens: o.tokens, logitRows: rows)
        let n = o.batch * o.tokens, d = c.hiddenSize, ff = c.ffnSize
        // FLOP share of the three weight shapes in a layer: 4 d² (q, k, v, out), d·ff, ff·d.
        let peak = SgemmPeak.measure(
            shapes: [.init(m: n, k: d, n: d), .init(m: n, k: d, n: ff), .init(m: n, k: ff, n: d)],
            weights: [4 * Double(d * d), Double(d * ff), Double(ff * d)])
        let gflops = flops.total / median * 1e-9
        var phaseSeconds: [String: Double] = [:], phaseFraction: [String: Double] = [:]
        for phase in StepPhase.allCases where profiler.seconds(phase) > 0 {
            let s = profiler.seconds(phase) / Double(o.steps)
            phaseSeconds[phase.name] = s
            phaseFraction[phase.name] = s / mean
        }
        let accounted = phaseSeconds.values.reduce(0, +)
        phaseSeconds[StepPhase.other.name] = max(0, mean - accounted)
        phaseFraction[StepPhase.other.name] = max(0, mean - accounted) / mean
        return Result(tokens_per_s: Double(n) / median, sec_per_step: median, gflops: gflops,
                      sgemm_peak_gflops: peak.combinedGflops, fraction_of_peak: gflops / peak.combinedGflops,
                      gflop_per_step: flops.total * 1e-9, threads: o.threads, batch: o.batch, tokens: o.tokens,
                      logit_rows: rows, openblas_core: OpenBLAS.coreName, phase_seconds: phaseSeconds,
                      phase_fraction: phaseFraction, sgemm_shapes: peak.measurements, final_loss: lastLoss)
    }
}
