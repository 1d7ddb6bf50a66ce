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
        discussion: "Times an in-place all-reduce of one float32 buffer (the slowest rank's time, median of the repeats): one MPI_Iallreduce (--transport iallreduce, the default), or the buffer in buckets as training sums them (mpi: the ring over persistent requests; hierarchical; auto). Reports the bus bandwidth as nccl-tests defines it (algorithm bandwidth × 2(n−1)/n), to compare with the link rate, and the bytes each node sends by the transport's own count. See docs/multihost.md.")

    @Option(help: "Buffer size in MB (10^6 bytes).")
    var mb = 64.0

    @Option(help: "Timed repeats (the median is reported).")
    var repeats = 5

    @Option(help: "Untimed warm-up repeats.")
    var warmup = 1

    @Option(help: "iallreduce (one MPI_Iallreduce of the whole buffer), or as training sums buckets (train.allreduce): mpi, hierarchical or auto.")
    var transport = "iallreduce"

    @Option(name: .customLong("bucket-mb"), help: "Bucket cap in MiB for mpi, hierarchical and auto (train.bucket_mb).")
    var bucketMB = 4.0

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    func validate() throws {
        guard mb > 0, mb <= 4096, repeats >= 1, warmup >= 0 else {
            throw ValidationError("--mb must be in (0, 4096], --repeats at least 1, --warmup at least 0")
        }
        guard ["iallreduce", "mpi", "hierarchical", "auto"].contains(transport), bucketMB > 0 else {
            throw ValidationError("--transport must be iallreduce, mpi, hierarchical or auto, and --bucket-mb positive")
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
        options.transport = transport
        options.bucketMB = bucketMB
        try BenchmarkOutput.runOnEveryRank(json: json) { collective, progress in
            var result = try AllReduceBenchmark(options: options).run(collective: collective, nodeSharing: collective, progress: progress)
            if transport == "iallreduce" {
                result.algorithm = Self.algorithmName(try MPIRuntime.integerControlVariable("coll_libnbc_iallreduce_algorithm"))
            }
            return (result, result.report)
        }
    }
}
