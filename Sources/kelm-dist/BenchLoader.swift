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
        var tokens = 0, masked = 0, nodes = 0, edges = 0, positives = 0, segments = 0
        var kgEdges = 0, withPositive = 0
        var seconds = 0.0
        for _ in 0..<batches {
            let start = DispatchTime.now().uptimeNanoseconds
            let b = try loader.next()
            seconds += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            // what the batch holds (outside the timing)
            segments += b.segmentCount
            masked += b.maskedTokenCount
            nodes += b.nodeCount
            edges += b.edgeCount
            positives += b.positiveCount
            for i in 0..<(b.segmentCount * b.tokensPerSegment) { tokens += Int(b.attentionMask.pointer[i]) }
            for e in 0..<b.edgeCount where b.edgeType.pointer[e] < Int32(b.relationCount) { kgEdges += 1 }
            for s in 0..<b.segmentCount where b.positivePointer.pointer[s + 1] > b.positivePointer.pointer[s] { withPositive += 1 }
        }
        let n = Double(max(batches, 1)), perSegment = Double(max(segments, 1))
        let result: [String: Double] = [
            "batches_per_s": n / seconds, "ms_per_batch": 1000 * seconds / n, "B": Double(batch),
            "T": Double(dataset.maxTokens), "J": Double(maxNodes), "real_tokens_per_batch": Double(tokens) / n,
            "real_tokens_per_segment": Double(tokens) / perSegment,
            "real_token_fraction": Double(tokens) / perSegment / Double(dataset.maxTokens),
            "kg_nodes_per_segment": Double(nodes - segments) / perSegment,
            "kg_edges_in_input_per_segment": Double(kgEdges) / perSegment,
            "positives_per_segment": Double(positives) / perSegment,
            "segments_with_positives": Double(withPositive) / perSegment,
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
