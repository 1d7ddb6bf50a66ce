import ArgumentParser
import KELMBenchmarks
import KELMTraining
import Logging

struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "The fusion-model training step (MiniLM LM + K 3, d_g 128, J 64, R 20, 5000 entities).")

    @Option(help: "Nodes per subgraph (J, interaction node included).")
    var nodes = 64

    @OptionGroup var step: BenchStepOptions

    func validate() throws {
        guard nodes >= 2 else { throw ValidationError("--nodes must be at least 2") }
    }

    func run() throws {
        var options = ModelBenchmark.Options()
        options.threads = step.threads
        options.profileKernels = step.kernels
        options.batch = step.batch
        options.tokens = step.tokens
        options.nodesPerGraph = nodes
        options.steps = step.steps
        options.warmupSteps = step.warmup
        let logger = Logger(label: "kelm-dist.bench")
        let result = try ModelBenchmark(options: options).run { logger.info("\($0)") }
        try BenchmarkOutput.print(result, json: step.json)
    }
}
