import ArgumentParser
import Foundation
import KELMTraining
import Logging

struct BenchLM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lm",
        abstract: "A BERT masked-LM training step (forward, backward, AdamW) on the MiniLM shape.")

    @Flag(name: .customLong("all-positions"), help: "Compute logits at every position, as BertForMaskedLM does.")
    var allPositions = false

    @Option(help: "OpenBLAS threads.")
    var threads = 1

    @Option(help: "Segments per batch.")
    var batch = 8

    @Option(help: "Tokens per segment.")
    var tokens = 128

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
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        var options = LMBenchmark.Options()
        options.allPositions = allPositions
        options.threads = threads
        options.batch = batch
        options.tokens = tokens
        options.steps = steps
        options.warmupSteps = warmup
        let logger = Logger(label: "kelm-dist.bench")
        let result = try LMBenchmark(options: options).run { logger.info("\($0)") }
        try BenchmarkOutput.print(result, json: json)
    }
}
