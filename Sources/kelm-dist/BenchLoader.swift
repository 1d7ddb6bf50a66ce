import ArgumentParser
import Foundation
import KELMBenchmarks

/// `kelm-dist bench loader`: how fast the loader produces micro-batches.
struct BenchLoader: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader",
        abstract: "Measure how many micro-batches per second the data loader produces (release build).")

    @Option(help: "A dataset file or the directory holding dataset.h5.")
    var data: String

    @Option(help: "B: segments per micro-batch.")
    var batch = 8

    @Option(help: "J: nodes per segment, interaction node included.")
    var maxNodes = 64

    @Option(help: "Ranks to simulate (this process plays rank 0).")
    var worldSize = 1

    @Option(help: "Timed micro-batches.")
    var batches = 500

    @Option(help: "Untimed warm-up micro-batches.")
    var warmup = 20

    @Option(help: "Seed.")
    var seed: UInt64 = 0

    @Flag(help: "Print one JSON object instead of lines.")
    var json = false

    func run() throws {
        var options = LoaderBenchmark.Options()
        options.microBatch = batch
        options.maxNodes = maxNodes
        options.worldSize = worldSize
        options.batches = batches
        options.warmup = warmup
        options.seed = seed
        let result = try LoaderBenchmark(data: data, options: options).run()
        try BenchmarkOutput.print(result, report: LoaderBenchmark.report(result), json: json)
    }
}
