import ArgumentParser
import Foundation
import KELMTraining
import Logging

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "The fusion-model training step (MiniLM LM + K 3, d_g 128, J 64, R 20, 5000 entities).")

    @Option(help: "OpenBLAS threads.")
    var threads = 1

    @Option(help: "Segments per batch.")
    var batch = 8

    @Option(help: "Tokens per segment.")
    var tokens = 128

    @Option(help: "Nodes per subgraph (J, interaction node included).")
    var nodes = 64

    @Option(help: "Timed steps (the median is reported).")
    var steps = 15

    @Option(help: "Untimed warm-up steps.")
    var warmup = 3

    @Flag(help: "Print one JSON object instead of a table.")
    var json = false

    func validate() throws {
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
        guard tokens >= 3 && tokens <= 512 else { throw ValidationError("--tokens must be in 3...512 (the MiniLM's positions)") }
        guard nodes >= 2 else { throw ValidationError("--nodes must be at least 2") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        var options = ModelBenchmark.Options()
        options.threads = threads
        options.batch = batch
        options.tokens = tokens
        options.nodesPerGraph = nodes
        options.steps = steps
        options.warmupSteps = warmup
        let logger = Logger(label: "kelm-dist.bench")
        let result = try ModelBenchmark(options: options).run { logger.info("\($0)") }
        try BenchmarkOutput.print(result, json: json)
    }
}
