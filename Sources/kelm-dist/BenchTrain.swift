import ArgumentParser
import Foundation
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

    @Option(name: .customLong("bucket-mb"), help: "Gradient bucket cap in MiB.")
    var bucketMB = 4.0

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard steps >= 1, warmup >= 0, batch >= 1, bucketMB > 0 else { throw ValidationError("--steps, --batch and --bucket-mb must be positive") }
    }

    func run() throws {
        var options = TrainBenchmark.Options()
        options.policy = policy
        options.microBatch = batch
        options.steps = steps
        options.warmupSteps = warmup
        options.bucketMB = bucketMB
        try BenchmarkOutput.runOnEveryRank(json: json) { world, progress in
            let result = try TrainBenchmark(options: options).run(collective: MPICollective(world), progress: progress)
            return (result, result.report)
        }
    }
}
