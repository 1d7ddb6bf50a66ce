import Foundation
import KELMTraining
import KELMBatches
import KELMModel
import KELMNumerics

/// `kelm-dist bench lm`: a masked-LM training step (forward, backward, AdamW) on a BERT shape,
/// timed per phase and counted in FLOPs (DESIGN §11).
public struct LMBenchmark {
    public struct Options: Sendable {
        public var config = BertConfig.miniLM.withoutDropout
        public var batch = 8
        public var tokens = 128
        public var maskFraction = 0.15
        public var allPositions = false
        /// Compute threads (`OpenBLAS.setThreads`).
        public var threads = 1
        /// Also time every kernel (`KernelProfile`).
        public var profileKernels = false
        public var warmupSteps = 3
        public var steps = 15
        public var seed: UInt64 = 0

        public init() {}
    }

    public let options: Options

    public init(options: Options) { self.options = options }

    /// Runs the benchmark; `progress` receives a line per timed step.
    public func run(progress: (String) -> Void = { _ in }) throws -> BenchmarkResult {
        let o = options, c = o.config
        OpenBLAS.setThreads(o.threads)
        let model = try BertMaskedLM(config: c, maxBatch: o.batch, maxTokens: o.tokens,
                                     logits: o.allPositions ? .all : .masked)
        try model.initializeParameters(seed: o.seed)
        let batch = TokenBatch(capacityBatch: o.batch, capacityTokens: o.tokens)
        SyntheticTokenBatch.fill(batch, config: c, maskFraction: o.maskFraction, seed: o.seed)
        let optimizer = AdamW(table: model.store.table)
        let rates = [Float](repeating: 1e-4, count: model.store.table.entries.count)
        let mode = ForwardMode(dropout: false, seed: o.seed)
        let loop = BenchmarkLoop(warmupSteps: o.warmupSteps, steps: o.steps, profileKernels: o.profileKernels)
        let profiler = loop.profiler
        let (times, lastLoss) = loop.run(progress: progress) {
            let out = model.forward(batch, mode: mode, profiler: profiler)
            model.backward(batch, scale: Float(1 / Double(max(out.count, 1))),
                           sinks: .all(model.store.grads.pointer), profiler: profiler)
            profiler.begin(.optimizer)
            optimizer.update(params: model.store.values, grads: model.store.grads, learningRates: rates,
                             zeroGradients: true)
            profiler.end()
            return out.meanLoss
        }
        let rows = model.head.selectedRows
        let flops = LMFlopCount(config: c, batch: o.batch, tokens: o.tokens, logitRows: rows)
        let (shapes, weights) = BenchmarkLoop.lmShapes(rows: o.batch * o.tokens, hidden: c.hiddenSize, ffn: c.ffnSize)
        return loop.result(benchmark: "lm", times: times, lastLoss: lastLoss, flops: flops.total,
                           tokensPerStep: o.batch * o.tokens, shapes: shapes, weights: weights, threads: o.threads,
                           batch: o.batch, tokens: o.tokens, logitRows: rows)
    }
}
