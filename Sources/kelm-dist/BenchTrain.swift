import ArgumentParser
import Foundation
import KELMBenchmarks
import KELMConfig
import KELMDistributed
import KELMMPI
import KELMTraining

struct BenchTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "The data-parallel training step (run under mpirun -np N, one thread per rank): scaling and overlap.")

    @Option(help: "Parameter policy preset: full, ffn-routed or knowledge-paths.")
    var policy = "full"

    @Option(help: "Micro-batch per rank.")
    var batch = 8

    @Option(help: "Timed steps (the median is reported).")
    var steps = 10

    @Option(help: "Untimed warm-up steps.")
    var warmup = 2

    @Option(help: "Rounds of (rank 0 alone, every rank alone at once, together), interleaved; the figures are medians over all their timed steps.")
    var rounds = 1

    @Option(name: .customLong("bucket-mb"), help: "Gradient bucket cap in MiB.")
    var bucketMB = 4.0

    @Option(help: "How dense buckets are summed (train.allreduce): auto (the node's shared memory when every rank is on one node; hierarchical over nodes of the same number of ranks, two or more; else the MPI ring), mpi (the ring over persistent requests) or hierarchical.")
    var allreduce = "auto"

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard steps >= 1, warmup >= 0, batch >= 1, bucketMB > 0, rounds >= 1 else { throw ValidationError("--steps, --batch, --rounds and --bucket-mb must be positive") }
        guard KELMConfig.TrainSection.AllReduceTransport(rawValue: allreduce) != nil else {
            throw ValidationError("--allreduce must be one of \(KELMConfig.TrainSection.AllReduceTransport.allowedValues), not \(allreduce)")
        }
    }

    func run() throws {
        var options = TrainBenchmark.Options()
        options.policy = policy
        options.microBatch = batch
        options.steps = steps
        options.warmupSteps = warmup
        options.bucketMB = bucketMB
        options.allreduce = allreduce
        options.rounds = rounds
        try BenchmarkOutput.runOnEveryRank(json: json) { collective, progress in
            let result = try TrainBenchmark(options: options).run(collective: collective, nodeSharing: collective, progress: progress)
            return (result, result.report)
        }
    }
}
