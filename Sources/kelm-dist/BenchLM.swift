import ArgumentParser
import KELMBenchmarks
import KELMTraining
import Logging

struct BenchLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "A BERT masked-LM training step (forward, backward, AdamW) on the MiniLM shape.")

    @Flag(name: .customLong("all-positions"), help: "Compute logits at every position, as BertForMaskedLM does.")
    var allPositions = false

    @OptionGroup var step: BenchStepOptions

    func run() throws {
        var options = LMBenchmark.Options()
        options.allPositions = allPositions
        options.threads = step.threads
        options.profileKernels = step.kernels
        options.batch = step.batch
        options.tokens = step.tokens
        options.steps = step.steps
        options.warmupSteps = step.warmup
        let logger = Logger(label: "kelm-dist.bench")
        let result = try LMBenchmark(options: options).run { logger.info("\($0)") }
        try BenchmarkOutput.print(result, json: step.json)
    }
}
