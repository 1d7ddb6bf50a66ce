import Foundation
import KELMNumerics

/// `kelm-dist bench train` (under mpirun -np N, one thread per rank): the data-parallel
/// training step of the default fusion model on synthetic data. Reports per-rank tokens/s,
/// weak-scaling efficiency against rank 0 running alone, exposed communication, and when each
/// gradient bucket's all-reduce started relative to the end of backward.
public struct TrainBenchmark {
    public struct Options: Sendable {
        public var policy = "full"
        public var microBatch = 8
        public var steps = 10
        public var warmupSteps = 2
        public var threads = 1
        public var bucketMB = 4.0
        public var seed: UInt64 = 0
        public init() {}
    }

    public struct BucketTiming: Codable, Sendable {
        public var bytes: Int
        /// Milliseconds before the end of backward (negative: after) that the all-reduce started.
        public var started_before_backward_end_ms: Double
        public var finished_after_backward_end_ms: Double
    }

    public struct Result: Codable, Sendable {
        public var ranks: Int
        public var policy: String
        public var tokens_per_s_per_rank: Double
        public var tokens_per_s_alone: Double
        public var efficiency: Double
        public var sec_per_step: Double
        public var exposed_comm_ms: Double
        public var exposed_fraction: Double
        /// Median backward time of the timed steps.
        public var backward_ms: Double
        /// Knowledge-path attribution (run at step 0, then every `routing.interval` steps), and
        /// its cost spread over the interval; the step time with it included.
        public var attribution_ms: Double
        public var amortised_attribution_ms: Double
        public var sec_per_step_with_attribution: Double
        public var bytes_allreduced: Int
        public var bytes_dense_equivalent: Int
        /// Share of the reduced gradient bytes whose all-reduce started before backward ended.
        public var fraction_bytes_started_before_backward_end: Double
        public var buckets: [BucketTiming]
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    func config() throws -> KELMConfig {
        try ConfigLoader.load(overrides: [
            "model.dropout=0", "model.gnn_dropout=0", "model.fusion_layers=3", "model.gnn_hidden=128", "model.gnn_heads=4",
            "model.max_nodes=64", "model.max_tokens=128", "train.micro_batch=\(options.microBatch)",
            "train.param_policy=\(options.policy)", "train.consistency_every=0", "train.steps=100000",
            "train.bucket_mb=\(options.bucketMB)",
        ])
    }

    func data() -> SyntheticTrainingData {
        SyntheticTrainingData(segments: 8192, entities: 5000, relations: 20, vocabSize: 30522, tokens: 128,
                              nodesPerSegment: 64, seed: options.seed)
    }

    /// Median seconds per step of `trainer` over the timed steps, and per-step extras.
    func measure(_ trainer: Trainer, progress: (String) -> Void) throws
        -> (median: Double, exposed: Double, backward: Double, attribution: Double, buckets: [BucketTiming]) {
        var times: [Double] = [], exposed: [Double] = [], backward: [Double] = []
        var attribution = 0.0
        var buckets: [BucketTiming] = []
        for i in 0..<(options.warmupSteps + options.steps) {
            let start = Profiler.now()
            let m = try trainer.trainStep()
            let seconds = Double(Profiler.now() - start) * 1e-9
            if let a = m.attribution_ms { attribution = max(attribution, a) }
            if i >= options.warmupSteps {
                times.append(seconds)
                exposed.append(m.time_comm_exposed_ms)
                backward.append(m.time_backward_ms)
                progress(String(format: "step %d/%d: %.3f s, exposed communication %.1f ms", i - options.warmupSteps + 1, options.steps, seconds, m.time_comm_exposed_ms))
                let end = Double(trainer.backwardEndNanoseconds)
                buckets = zip(trainer.reducer.buckets, trainer.reducer.timings).map { b, t in
                    BucketTiming(bytes: b.bytes, started_before_backward_end_ms: (end - Double(t.startedNanoseconds)) * 1e-6,
                                 finished_after_backward_end_ms: (Double(t.finishedNanoseconds) - end) * 1e-6)
                }
            }
        }
        return (times.sorted()[times.count / 2], exposed.sorted()[exposed.count / 2], backward.sorted()[backward.count / 2],
                attribution, buckets)
    }

    public func run(collective: Collective, progress: (String) -> Void) throws -> Result {
        OpenBLAS.setThreads(options.threads)
        let config = try self.config(), data = self.data()
        let tokensPerStep = Double(options.microBatch * config.model.maxTokens)
        var alone = 0.0
        if collective.size > 1 {
            if collective.rank == 0 {
                progress("rank 0 alone:")
                let solo = try Trainer(config: config, data: data, collective: SingleProcess(), fillMemory: false)
                alone = tokensPerStep / (try measure(solo, progress: progress).median)
            }
            try collective.barrier()
        }
        progress("\(collective.size) rank(s) together:")
        let trainer = try Trainer(config: config, data: data, collective: collective, fillMemory: false)
        let m = try measure(trainer, progress: progress)
        let perRank = tokensPerStep / m.median
        if collective.size == 1 { alone = perRank }
        let reduced = m.buckets.reduce(0) { $0 + $1.bytes }
        let early = m.buckets.filter { $0.started_before_backward_end_ms > 0 }.reduce(0) { $0 + $1.bytes }
        return Result(ranks: collective.size, policy: options.policy, tokens_per_s_per_rank: perRank, tokens_per_s_alone: alone,
                      efficiency: perRank / alone, sec_per_step: m.median, exposed_comm_ms: m.exposed,
                      exposed_fraction: m.exposed * 1e-3 / m.median, backward_ms: m.backward, attribution_ms: m.attribution,
                      amortised_attribution_ms: m.attribution / Double(max(1, config.routing.interval)),
                      sec_per_step_with_attribution: m.median + m.attribution * 1e-3 / Double(max(1, config.routing.interval)),
                      bytes_allreduced: trainer.reducer.denseBytes + (trainer.paths?.packed.count ?? 0) * 4,
                      bytes_dense_equivalent: trainer.model.store.table.count * 4,
                      fraction_bytes_started_before_backward_end: reduced > 0 ? Double(early) / Double(reduced) : 0,
                      buckets: m.buckets)
    }
}

extension TrainBenchmark.Result {
    public var report: String {
        var lines = [
            String(format: "data-parallel training step, %d rank(s), policy %@", ranks, policy),
            String(format: "  %.1f tokens/s per rank (alone: %.1f), weak-scaling efficiency %.3f", tokens_per_s_per_rank, tokens_per_s_alone, efficiency),
            String(format: "  %.3f s/step, exposed communication %.1f ms (%.1f%% of the step), backward %.1f ms", sec_per_step, exposed_comm_ms, 100 * exposed_fraction, backward_ms),
            String(format: "  attribution %.0f ms every %d steps: %.1f ms per step amortised; %.3f s/step with it", attribution_ms,
                   Int((attribution_ms / max(amortised_attribution_ms, 1e-9)).rounded()), amortised_attribution_ms, sec_per_step_with_attribution),
            String(format: "  all-reduced %.1f MB per step (full preset: %.1f MB); %.0f%% of it started before backward ended",
                   Double(bytes_allreduced) / 1e6, Double(bytes_dense_equivalent) / 1e6, 100 * fraction_bytes_started_before_backward_end),
            "  bucket     MB   started before end of backward (ms)   finished after (ms)",
        ]
        for (i, b) in buckets.enumerated() {
            lines.append(String(format: "  %6d %6.2f %12.1f %24.1f", i, Double(b.bytes) / 1e6, b.started_before_backward_end_ms, b.finished_after_backward_end_ms))
        }
        return lines.joined(separator: "\n")
    }
}
