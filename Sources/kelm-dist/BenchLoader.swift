import ArgumentParser
import Foundation
import KELMData

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
        let dataset = try DatasetFile(path: data)
        var options = LoaderOptions()
        options.microBatch = batch
        options.maxNodes = maxNodes
        options.worldSize = worldSize
        options.seed = seed
        let loader = try BatchLoader(dataset: dataset, options: options)
        for _ in 0..<warmup { try loader.next() }
        var tokens = 0, masked = 0, nodes = 0, edges = 0, positives = 0
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<batches {
            let b = try loader.next()
            masked += b.maskedTokenCount
            nodes += b.nodeCount
            edges += b.edgeCount
            positives += b.positiveCount
            for i in 0..<(b.segmentCount * b.tokensPerSegment) { tokens += Int(b.attentionMask.pointer[i]) }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let n = Double(max(batches, 1))
        let result: [String: Double] = [
            "batches_per_s": n / seconds, "ms_per_batch": 1000 * seconds / n, "B": Double(batch),
            "T": Double(dataset.maxTokens), "J": Double(maxNodes), "real_tokens_per_batch": Double(tokens) / n,
            "masked_per_batch": Double(masked) / n, "nodes_per_batch": Double(nodes) / n,
            "edges_per_batch": Double(edges) / n, "positives_per_batch": Double(positives) / n,
        ]
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            for key in result.keys.sorted() { print("\(key): \(String(format: "%.3f", result[key] ?? 0))") }
        }
        try dataset.close()
    }
}
