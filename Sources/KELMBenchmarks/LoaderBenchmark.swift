import Foundation
import KELMData

/// `kelm-dist bench loader`: micro-batches per second of the data loader on a prepared dataset,
/// and what the batches hold (real tokens against T, subgraph nodes, KG edges and link-prediction
/// positives per segment) — the figures that show whether the graph has anything to teach.
public struct LoaderBenchmark {
    public struct Options: Sendable {
        public var microBatch = 8
        public var maxNodes = 64
        /// Ranks to simulate (this process plays rank 0).
        public var worldSize = 1
        public var batches = 500
        public var warmup = 20
        public var seed: UInt64 = 0
        public init() {}
    }

    public let data: String
    public let options: Options

    public init(data: String, options: Options) {
        self.data = data
        self.options = options
    }

    /// The figures by name (the keys of `--json`).
    public func run() throws -> [String: Double] {
        let o = options
        let dataset = try DatasetFile(path: data)
        defer { try? dataset.close() }  // read-only: a close failure changes nothing measured
        var loaderOptions = LoaderOptions()
        loaderOptions.microBatch = o.microBatch
        loaderOptions.maxNodes = o.maxNodes
        loaderOptions.worldSize = o.worldSize
        loaderOptions.seed = o.seed
        let loader = try BatchLoader(dataset: dataset, options: loaderOptions)
        for _ in 0..<o.warmup { try loader.next() }
        var tokens = 0, masked = 0, nodes = 0, edges = 0, positives = 0, segments = 0
        var kgEdges = 0, withPositive = 0
        var seconds = 0.0
        for _ in 0..<o.batches {
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
        let n = Double(max(o.batches, 1)), perSegment = Double(max(segments, 1))
        return [
            "batches_per_s": n / seconds, "ms_per_batch": 1000 * seconds / n, "B": Double(o.microBatch),
            "T": Double(dataset.maxTokens), "J": Double(o.maxNodes), "real_tokens_per_batch": Double(tokens) / n,
            "real_tokens_per_segment": Double(tokens) / perSegment,
            "real_token_fraction": Double(tokens) / perSegment / Double(dataset.maxTokens),
            "kg_nodes_per_segment": Double(nodes - segments) / perSegment,
            "kg_edges_in_input_per_segment": Double(kgEdges) / perSegment,
            "positives_per_segment": Double(positives) / perSegment,
            "segments_with_positives": Double(withPositive) / perSegment,
            "masked_per_batch": Double(masked) / n, "nodes_per_batch": Double(nodes) / n,
            "edges_per_batch": Double(edges) / n, "positives_per_batch": Double(positives) / n,
        ]
    }

    /// One `key: value` line per figure, keys sorted.
    public static func report(_ result: [String: Double]) -> String {
        result.keys.sorted().map { "\($0): \(String(format: "%.3f", result[$0] ?? 0))" }.joined(separator: "\n")
    }
}
