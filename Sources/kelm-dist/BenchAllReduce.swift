import ArgumentParser
import Foundation
import KELMBenchmarks
import KELMDistributed
import KELMMPI
import KELMTraining

struct BenchAllReduce: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "The gradient reducer's all-reduce alone (run under mpirun -np N): algorithm and bus bandwidth.",
        discussion: "Times an in-place MPI_Iallreduce of one float32 buffer (the slowest rank's time, median of the repeats) and reports the bus bandwidth as nccl-tests defines it (algorithm bandwidth × 2(n−1)/n), to compare with the link rate. See docs/multihost.md.")

    @Option(help: "Buffer size in MB (10^6 bytes).")
    var mb = 64.0

    @Option(help: "Timed repeats (the median is reported).")
    var repeats = 5

    @Option(help: "Untimed warm-up repeats.")
    var warmup = 1

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard mb > 0, mb <= 4096, repeats >= 1, warmup >= 0 else {
            throw ValidationError("--mb must be in (0, 4096], --repeats at least 1, --warmup at least 0")
        }
    }

    /// Open MPI's names for the values of `coll_libnbc_iallreduce_algorithm`.
    static func algorithmName(_ value: Int32?) -> String? {
        guard let value else { return nil }
        switch value {
        case 0: return "Open MPI's choice (binomial for in-place)"
        case 1: return "ring"
        case 2: return "binomial"
        case 3: return "rabenseifner"
        case 4: return "recursive doubling"
        default: return "coll_libnbc_iallreduce_algorithm \(value)"
        }
    }

    func run() throws {
        var options = AllReduceBenchmark.Options()
        options.megabytes = mb
        options.repeats = repeats
        options.warmup = warmup
        try BenchmarkOutput.runOnEveryRank(json: json) { collective, progress in
            var result = try AllReduceBenchmark(options: options).run(collective: collective, progress: progress)
            result.algorithm = Self.algorithmName(try MPIRuntime.integerControlVariable("coll_libnbc_iallreduce_algorithm"))
            return (result, result.report)
        }
    }
}
