import Foundation
import KELMTraining
import KELMBatches
import KELMConfig
import KELMDistributed
import KELMNumerics

/// `kelm-dist bench train` (under mpirun -np N, one thread per rank): the data-parallel
/// training step of the default fusion model on synthetic data. Reports per-rank tokens/s,
/// weak-scaling efficiency against rank 0 running alone, exposed communication, and when each
/// gradient bucket's all-reduce started relative to the end of backward. The entity memory is
/// not refreshed during the run (`bench memory` times that).
public struct TrainBenchmark {
    public struct Options: Sendable {
        public var policy = "full"
        public var microBatch = 8
        public var steps = 10
        public var warmupSteps = 2
        public var threads = 1
        public var bucketMB = 4.0
        /// Rounds of (alone, every rank alone at once, together), interleaved.
        public var rounds = 1
        /// `train.allreduce`: auto, mpi or hierarchical.
        public var allreduce = "auto"
        public var seed: UInt64 = 0
        public init() {}
    }

    public struct BucketTiming: Codable, Sendable {
        public var bytes: Int
        /// Milliseconds before the end of backward (negative: after) that the all-reduce started.
        public var started_before_backward_end_ms: Double
        public var finished_after_backward_end_ms: Double
    }

    /// Median milliseconds of each phase of the step over the timed steps (each phase's own
    /// median, so they need not add up to the median step exactly).
    public struct PhaseTimes: Codable, Sendable {
        public var forward_ms: Double
        public var backward_ms: Double
        /// On the critical path: each step's shortest wait for the gradients over the ranks,
        /// the wait of the rank that finished backward last (see `Result.exposed_comm_ms`).
        public var exposed_comm_ms: Double
        public var optimizer_ms: Double
        /// Step time not in the four phases: batch filling, the loss all-reduces, the gradient norm.
        public var other_ms: Double
    }

    public struct Result: Codable, Sendable {
        public var ranks: Int
        public var policy: String
        /// Rounds of the three runs, interleaved; the figures are medians over all their steps.
        public var rounds: Int
        /// Token positions (B·T per segment, padding included) per second: the benchmark runs the
        /// synthetic full shape, so that it measures the step the model computes; `train` reports
        /// real (non-padding) tokens/s of the data it trains on.
        public var tokens_per_s_per_rank: Double
        public var tokens_per_s_alone: Double
        /// Share of the synthetic segments' positions that are real tokens (they fill T/2 … T).
        public var real_token_fraction: Double
        public var efficiency: Double
        /// The lowest and highest efficiency of a single round (rank 0's alone against together).
        public var efficiency_lowest_round: Double
        public var efficiency_highest_round: Double
        /// Per-rank tokens/s (mean over ranks) with every rank running alone at the same time:
        /// the same work, no communication.
        public var tokens_per_s_concurrent_alone: Double
        /// `tokens_per_s_concurrent_alone` / `tokens_per_s_alone`: the efficiency the shared
        /// machine allows before any communication (1 at one rank or one rank per machine).
        public var contention_ceiling: Double
        public var sec_per_step: Double
        /// Exposed communication on the critical path (median over steps): per step the shortest
        /// wait for the reduced gradients over the ranks. The rank that ends backward last waits
        /// only for the transfer still in flight; the others also wait for it to arrive, which is
        /// load imbalance (ranks sharing cores, a slower host), not communication.
        public var exposed_comm_ms: Double
        /// Per step the longest wait over the ranks (median over steps): communication plus imbalance.
        public var exposed_comm_longest_wait_ms: Double
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
        /// How the dense buckets were summed: "node shared memory", "hierarchy (…)", "MPI ring
        /// (persistent requests)", "MPI_Iallreduce" or "none" (one rank).
        public var allreduce: String
        /// Share of the reduced gradient bytes whose all-reduce started before backward ended.
        public var fraction_bytes_started_before_backward_end: Double
        public var buckets: [BucketTiming]
        /// The phases of the step with all ranks together, and of rank 0 alone (equal at 1 rank):
        /// where the weak-scaling efficiency is lost.
        public var phases: PhaseTimes
        public var phases_alone: PhaseTimes
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    func config() throws -> KELMConfig {
        try ConfigLoader.load(overrides: [
            "model.dropout=0", "model.gnn_dropout=0", "model.fusion_layers=3", "model.gnn_hidden=128", "model.gnn_heads=4",
            "model.max_nodes=64", "model.max_tokens=128", "train.micro_batch=\(options.microBatch)",
            "train.param_policy=\(options.policy)", "train.consistency_every=0", "train.steps=100000",
            "train.bucket_mb=\(options.bucketMB)", "train.allreduce=\(options.allreduce)",
            // the entity memory's scheduled refreshes (steps 10, 20, 30, …: seconds each) are
            // `bench memory`'s to time; here they would only disturb the steps around them
            "memory.init_interval=1000000000", "memory.max_interval=1000000000",
        ])
    }

    func data() -> SyntheticTrainingData {
        SyntheticTrainingData(segments: 8192, entities: 5000, relations: 20, vocabSize: 30522, tokens: 128,
                              nodesPerSegment: 64, seed: options.seed)
    }

    /// What the timed steps of one trainer measured, over every round.
    struct Samples {
        var times: [Double] = [], forward: [Double] = [], backward: [Double] = [], exposed: [Double] = []
        var longestWait: [Double] = [], optimizer: [Double] = [], other: [Double] = []
        var attribution = 0.0
        var paddingFractions: [Double] = []
        var buckets: [BucketTiming] = []

        static func median(_ x: [Double]) -> Double { x.isEmpty ? 0 : x.sorted()[x.count / 2] }
        var medianSeconds: Double { Self.median(times) }
        var phases: PhaseTimes {
            PhaseTimes(forward_ms: Self.median(forward), backward_ms: Self.median(backward), exposed_comm_ms: Self.median(exposed),
                       optimizer_ms: Self.median(optimizer), other_ms: Self.median(other))
        }
    }

    /// Runs `warmup` untimed and `options.steps` timed steps of `trainer`, adding to `samples`;
    /// returns the median seconds of this call's timed steps.
    @discardableResult
    func measure(_ trainer: Trainer, warmup: Int, into samples: inout Samples, progress: (String) -> Void) throws -> Double {
        var mine: [Double] = []
        for i in 0..<(warmup + options.steps) {
            let start = Profiler.now()
            let m = try trainer.trainStep()
            let seconds = Double(Profiler.now() - start) * 1e-9
            if let a = m.attribution_ms { samples.attribution = max(samples.attribution, a) }
            // every rank's wait for the gradients (outside the step's timing)
            let waits = try [m.time_comm_exposed_ms].withUnsafeBufferPointer { try trainer.collective.allGatherV($0) }
            guard i >= warmup else { continue }
            mine.append(seconds)
            samples.times.append(seconds)
            samples.forward.append(m.time_forward_ms)
            samples.backward.append(m.time_backward_ms)
            samples.exposed.append(waits.min()!)
            samples.longestWait.append(waits.max()!)
            samples.optimizer.append(m.time_optimizer_ms)
            samples.paddingFractions.append(m.padding_fraction)
            samples.other.append(seconds * 1e3 - m.time_forward_ms - m.time_backward_ms - m.time_comm_exposed_ms
                                 - m.time_optimizer_ms - (m.attribution_ms ?? 0))
            progress(String(format: "step %d/%d: %.3f s, exposed communication %.1f ms (longest wait %.1f ms)",
                            i - warmup + 1, options.steps, seconds, waits.min()!, waits.max()!))
            let end = Double(trainer.backwardEndNanoseconds)
            samples.buckets = zip(trainer.reducer.buckets, trainer.reducer.timings).map { b, t in
                BucketTiming(bytes: b.bytes, started_before_backward_end_ms: (end - Double(t.startedNanoseconds)) * 1e-6,
                             finished_after_backward_end_ms: (Double(t.finishedNanoseconds) - end) * 1e-6)
            }
        }
        return Samples.median(mine)
    }

    /// At several ranks each round runs three ways in turn: rank 0 alone, every rank alone at
    /// the same time, all ranks together; the figures are medians over the steps of all rounds,
    /// so that a slow minute of the machine falls on every way alike instead of on one.
    /// `nodeSharing` (the job's `MPICollective`) lets the dense gradients go through the node's
    /// shared memory when every rank is on one node (`--allreduce auto`).
    public func run(collective: Collective, nodeSharing: NodeSharing? = nil, progress: (String) -> Void) throws -> Result {
        OpenBLAS.setThreads(options.threads)
        let config = try self.config(), data = self.data()
        let tokensPerStep = Double(options.microBatch * config.model.maxTokens)
        let rounds = max(1, options.rounds)
        var alone = Samples(), concurrent = Samples(), together = Samples()
        var concurrentRates: [Double] = []
        var roundEfficiencies: [Double] = []
        // each rank's own replica for the runs without communication
        let solo = collective.size > 1 ? try Trainer(config: config, data: data, collective: SingleProcess(), fillMemory: false) : nil
        let trainer = try Trainer(config: config, data: data, collective: collective, fillMemory: false, nodeSharing: nodeSharing)
        for round in 0..<rounds {
            let warmup = round == 0 ? options.warmupSteps : 1
            let label = rounds > 1 ? "round \(round + 1)/\(rounds): " : ""
            var aloneSeconds = 0.0
            if let solo {
                if collective.rank == 0 {
                    progress("\(label)rank 0 alone:")
                    aloneSeconds = try measure(solo, warmup: warmup, into: &alone, progress: progress)
                }
                try collective.barrier()
                // every rank alone at the same time: the same work with no communication, so what
                // the ranks cost each other through the shared cache and memory (the ceiling of
                // the efficiency on this machine) is told apart from what communication costs
                progress("\(label)every rank alone at the same time:")
                var rate = [tokensPerStep / (try measure(solo, warmup: warmup, into: &concurrent, progress: progress))]
                try collective.allReduceSum(&rate)      // also: no rank starts together before all are done
                concurrentRates.append(rate[0] / Double(collective.size))
            }
            progress("\(label)\(collective.size) rank(s) together:")
            let togetherSeconds = try measure(trainer, warmup: warmup, into: &together, progress: progress)
            roundEfficiencies.append(solo == nil ? 1 : aloneSeconds / togetherSeconds)
        }
        let perRank = tokensPerStep / together.medianSeconds
        let aloneRate = solo == nil ? perRank : tokensPerStep / alone.medianSeconds
        let concurrentAlone = solo == nil ? perRank : Samples.median(concurrentRates)
        // rank 0's efficiencies of the rounds (other ranks do not time "alone")
        var spread = collective.rank == 0 ? [roundEfficiencies.min() ?? 1, roundEfficiencies.max() ?? 1] : [0, 0]
        try collective.allReduceSum(&spread)
        let reduced = together.buckets.reduce(0) { $0 + $1.bytes }
        let early = together.buckets.filter { $0.started_before_backward_end_ms > 0 }.reduce(0) { $0 + $1.bytes }
        let phases = together.phases
        let sec = together.medianSeconds
        return Result(ranks: collective.size, policy: options.policy, rounds: rounds, tokens_per_s_per_rank: perRank,
                      tokens_per_s_alone: aloneRate,
                      real_token_fraction: 1 - together.paddingFractions.reduce(0, +) / Double(max(1, together.paddingFractions.count)),
                      efficiency: perRank / aloneRate,
                      efficiency_lowest_round: spread[0], efficiency_highest_round: spread[1],
                      tokens_per_s_concurrent_alone: concurrentAlone,
                      contention_ceiling: concurrentAlone / aloneRate, sec_per_step: sec, exposed_comm_ms: phases.exposed_comm_ms,
                      exposed_comm_longest_wait_ms: Samples.median(together.longestWait),
                      exposed_fraction: phases.exposed_comm_ms * 1e-3 / sec, backward_ms: phases.backward_ms,
                      attribution_ms: together.attribution,
                      amortised_attribution_ms: together.attribution / Double(max(1, config.routing.interval)),
                      sec_per_step_with_attribution: sec + together.attribution * 1e-3 / Double(max(1, config.routing.interval)),
                      bytes_allreduced: trainer.reducer.denseBytes + (trainer.paths?.packed.count ?? 0) * 4,
                      bytes_dense_equivalent: trainer.model.store.table.count * 4,
                      allreduce: collective.size == 1 ? "none"
                          : trainer.reducer.shared?.isHierarchical == true ? "hierarchy (node shared memory, MPI ring across nodes)"
                          : trainer.reducer.shared != nil ? "node shared memory"
                          : trainer.reducer.reduction is RingAllReduce ? "MPI ring (persistent requests)" : "MPI_Iallreduce",
                      fraction_bytes_started_before_backward_end: reduced > 0 ? Double(early) / Double(reduced) : 0,
                      buckets: together.buckets, phases: phases, phases_alone: solo == nil ? phases : alone.phases)
    }
}

extension TrainBenchmark.Result {
    public var report: String {
        var lines = [
            String(format: "data-parallel training step, %d rank(s), policy %@", ranks, policy),
            String(format: "  synthetic data at the full shape B × T; tokens/s counts token positions (%.0f%% of them real tokens here; `train` logs real tokens/s of its data)",
                   100 * real_token_fraction),
            String(format: "  %.1f tokens/s per rank (alone: %.1f), weak-scaling efficiency %.3f", tokens_per_s_per_rank, tokens_per_s_alone, efficiency)
                + (rounds > 1 ? String(format: " (medians over %d interleaved rounds; single rounds %.3f to %.3f)", rounds,
                                       efficiency_lowest_round, efficiency_highest_round) : ""),
            String(format: "  every rank alone at the same time: %.1f tokens/s per rank, so %.3f is lost to sharing the machine and %.3f to communication",
                   tokens_per_s_concurrent_alone, 1 - contention_ceiling, contention_ceiling - efficiency),
            String(format: "  %.3f s/step, exposed communication %.1f ms (%.1f%% of the step; longest wait of a rank %.1f ms), backward %.1f ms",
                   sec_per_step, exposed_comm_ms, 100 * exposed_fraction, exposed_comm_longest_wait_ms, backward_ms),
            String(format: "  attribution %.0f ms every %d steps: %.1f ms per step amortised; %.3f s/step with it", attribution_ms,
                   Int((attribution_ms / max(amortised_attribution_ms, 1e-9)).rounded()), amortised_attribution_ms, sec_per_step_with_attribution),
            String(format: "  all-reduced %.1f MB per step (full preset: %.1f MB) through %@; %.0f%% of it started before backward ended",
                   Double(bytes_allreduced) / 1e6, Double(bytes_dense_equivalent) / 1e6, allreduce, 100 * fraction_bytes_started_before_backward_end),
            "  phase (median ms)   forward   backward   exposed comm   optimizer   other",
            phaseLine("together", phases),
            phaseLine("rank 0 alone", phases_alone),
            "  bucket     MB   started before end of backward (ms)   finished after (ms)",
        ]
        for (i, b) in buckets.enumerated() {
            lines.append(String(format: "  %6d %6.2f %12.1f %24.1f", i, Double(b.bytes) / 1e6, b.started_before_backward_end_ms, b.finished_after_backward_end_ms))
        }
        return lines.joined(separator: "\n")
    }

    private func phaseLine(_ label: String, _ p: TrainBenchmark.PhaseTimes) -> String {
        "  " + label.padding(toLength: 18, withPad: " ", startingAt: 0)
            + String(format: " %8.1f %10.1f %14.1f %11.1f %7.1f", p.forward_ms, p.backward_ms, p.exposed_comm_ms,
               p.optimizer_ms, p.other_ms)
    }
}
