import Foundation
import KELMDistributed
import KELMNumerics

/// `kelm-dist bench allreduce` (under mpirun -np N): the gradient reducer's collective alone —
/// an in-place sum of one float32 buffer, started and waited for — timed on the slowest rank:
/// one `MPI_Iallreduce` of the whole buffer (`iallreduce`), or the buffer cut into buckets of
/// `bucketMB` and summed as training sums them (`mpi`: the ring over persistent requests;
/// `hierarchical`: each node's shared memory, then the ring across nodes; `auto`: what training
/// would pick). Reports the algorithm bandwidth (buffer bytes ÷ time) and the bus bandwidth of
/// nccl-tests (algorithm bandwidth × 2(n−1)/n): the bytes each rank's link carries in each
/// direction per second for a bandwidth-optimal all-reduce, to be compared with the link rate.
public struct AllReduceBenchmark {
    public struct Options: Sendable {
        /// Buffer size in MB (10^6 bytes).
        public var megabytes = 64.0
        public var repeats = 5
        public var warmup = 1
        /// iallreduce, mpi, hierarchical or auto (`train.allreduce`).
        public var transport = "iallreduce"
        /// The bucket cap for the bucketed transports (`train.bucket_mb`).
        public var bucketMB = 4.0
        public init() {}
    }

    public struct Result: Codable, Sendable {
        public var ranks: Int
        public var bytes: Int
        public var repeats: Int
        /// Median over the timed repeats of the slowest rank's time.
        public var seconds: Double
        public var algbw_gbit_s: Double
        public var busbw_gbit_s: Double
        /// What MPI says it runs (filled in by the caller, which knows the MPI library), e.g. "ring".
        public var algorithm: String?
        /// What summed the buffer: "MPI_Iallreduce", "MPI ring (persistent requests)" or "hierarchy (…)".
        public var transport: String = "MPI_Iallreduce"
        public var buckets: Int = 1
        /// Bytes each node sends to the others per all-reduce by the transport's own count
        /// (nil for MPI_Iallreduce, whose algorithm is MPI's).
        public var bytes_sent_per_node_model: Int?
    }

    public enum Failure: Error, CustomStringConvertible {
        case wrongSum(element: Int, found: Float, expected: Float, ranks: Int)

        public var description: String {
            switch self {
            case let .wrongSum(element, found, expected, ranks):
                return "bench allreduce: element \(element) of the reduced buffer is \(found), expected \(expected) (the sum over \(ranks) ranks)"
            }
        }
    }

    public let options: Options
    public init(options: Options) { self.options = options }

    public func run(collective: Collective, nodeSharing: NodeSharing? = nil, progress: (String) -> Void) throws -> Result {
        if options.transport != "iallreduce" { return try runBuckets(collective: collective, nodeSharing: nodeSharing, progress: progress) }
        let buffer = FlatBuffer(count: max(1, Int(options.megabytes * 1e6 / 4)))
        let seconds = try timeRepeats(buffer, collective: collective, progress: progress) {
            try collective.startAllReduceSum(buffer.buffer).wait()
        }
        return result(bytes: buffer.count * 4, seconds: seconds, ranks: collective.size)
    }

    /// The median over the timed repeats of the slowest rank's seconds for `reduce` to sum
    /// `buffer` in place, checking the sums: rank r contributes (r + 1) · (i mod 7 + 1), so every
    /// sum is exact in float32.
    func timeRepeats(_ buffer: FlatBuffer, collective: Collective, progress: (String) -> Void, reduce: () throws -> Void) throws -> Double {
        let count = buffer.count, n = collective.size
        let pattern = (0 ..< 7).map { Float(collective.rank + 1) * Float($0 + 1) }
        let total = Float(n * (n + 1) / 2)
        var times: [Double] = []
        for i in 0 ..< (options.warmup + options.repeats) {
            for j in 0 ..< count { buffer.pointer[j] = pattern[j % 7] }
            try collective.barrier()
            let start = Profiler.now()
            try reduce()
            var slowest: [Int64] = [Int64(Profiler.now() - start)]
            try slowest.withUnsafeMutableBufferPointer { try collective.allReduceMax($0) }
            for j in stride(from: 0, to: count, by: max(1, count / 4096)) + [count - 1] where buffer.pointer[j] != total * Float(j % 7 + 1) {
                throw Failure.wrongSum(element: j, found: buffer.pointer[j], expected: total * Float(j % 7 + 1), ranks: n)
            }
            let seconds = Double(slowest[0]) * 1e-9
            if i >= options.warmup {
                times.append(seconds)
                progress(String(format: "all-reduce %d/%d: %.1f MB in %.3f s", i - options.warmup + 1, options.repeats,
                                Double(count * 4) / 1e6, seconds))
            }
        }
        return times.sorted()[times.count / 2]
    }

    func result(bytes: Int, seconds: Double, ranks n: Int) -> Result {
        let algbw = Double(bytes) * 8 / seconds / 1e9
        return Result(ranks: n, bytes: bytes, repeats: options.repeats, seconds: seconds, algbw_gbit_s: algbw,
                      busbw_gbit_s: algbw * 2 * Double(n - 1) / Double(n), algorithm: nil)
    }
}

extension AllReduceBenchmark {
    /// The bucketed transports: the buffer cut into buckets of the cap, every bucket started at
    /// once (as after the last backward stage) and finished, through a `GradientReducer`.
    func runBuckets(collective: Collective, nodeSharing: NodeSharing?, progress: (String) -> Void) throws -> Result {
        let count = max(1, Int(options.megabytes * 1e6 / 4))
        let cap = max(1, Int(options.bucketMB * 1_048_576) / 4)
        let ranges = stride(from: 0, to: count, by: cap).map { $0..<min($0 + cap, count) }
        let buckets = ranges.map { GradientReducer.Bucket(entries: [0], range: $0, readyStage: 0) }
        let n = collective.size
        var shared: NodeSharedGradients? = nil
        if options.transport == "hierarchical" || options.transport == "auto" {
            shared = try nodeSharing?.sharedGradients(count: count, plans: [ranges],
                                                      hierarchy: options.transport == "hierarchical" ? .always : .whenSeveralRanksPerNode)
        }
        let grads = shared?.gradients ?? FlatBuffer(count: count)
        let reducer = try GradientReducer(buckets: buckets, grads: grads, collective: collective, shared: shared)
        defer { try? reducer.close() }
        let transport = shared.map { $0.isHierarchical ? "hierarchy (node shared memory, MPI ring across \($0.cross?.size ?? 1) nodes)" : "node shared memory" }
            ?? (n > 1 ? "MPI ring (persistent requests)" : "none")
        // bytes leaving a node per all-reduce, by the transports' own arithmetic
        let model: Int
        if let shared {
            let nodes = shared.cross?.size ?? 1
            model = nodes > 1 ? RingAllReduce.bytesSent(counts: ranges.map(\.count), ranks: nodes) : 0
        } else {
            // the ring over every rank in rank order: a node's ranks are consecutive, so one
            // of its ranks sends to the next node (at one rank per node, every rank does), 2(n−1)/n
            // of every bucket
            model = RingAllReduce.bytesSent(counts: ranges.map(\.count), ranks: n)
        }
        let seconds = try timeRepeats(grads, collective: collective, progress: progress) {
            try reducer.beginStep()
            try reducer.stageCompleted(0)
            try reducer.finish()
        }
        var r = result(bytes: count * 4, seconds: seconds, ranks: n)
        r.transport = transport
        r.buckets = buckets.count
        r.bytes_sent_per_node_model = model
        return r
    }
}

extension AllReduceBenchmark.Result {
    public var report: String {
        [String(format: "in-place all-reduce through %@, %d rank(s), %.1f MB float32 in %d bucket(s)%@", transport, ranks, Double(bytes) / 1e6,
                buckets, algorithm.map { ", algorithm: \($0)" } ?? ""),
         bytes_sent_per_node_model.map {
            transport.hasPrefix("MPI ring")
                ? String(format: "  each rank sends %.1f MB to the next per all-reduce, 2(n−1)/n of the buffer (with a node's ranks consecutive, also what each node sends to the others)", Double($0) / 1e6)
                : String(format: "  each node sends %.1f MB to the others per all-reduce, 2(M−1)/M of the buffer for M nodes", Double($0) / 1e6)
         },
         String(format: "  %.4f s (median of %d, slowest rank): algorithm bandwidth %.3f Gbit/s, bus bandwidth %.3f Gbit/s",
                seconds, repeats, algbw_gbit_s, busbw_gbit_s),
         "  (bus bandwidth = algorithm bandwidth × 2(n−1)/n: what each rank's link carries each way, as nccl-tests reports it)"]
            .compactMap { $0 }.joined(separator: "\n")
    }
}
