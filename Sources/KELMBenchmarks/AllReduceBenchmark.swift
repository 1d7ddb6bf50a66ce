import Foundation
import KELMNumerics

/// `kelm-dist bench allreduce` (under mpirun -np N): the gradient reducer's collective alone —
/// an in-place non-blocking sum of one float32 buffer, started and waited for — timed on the
/// slowest rank. Reports the algorithm bandwidth (buffer bytes ÷ time) and the bus bandwidth of
/// nccl-tests (algorithm bandwidth × 2(n−1)/n): the bytes each rank's link carries in each
/// direction per second for a bandwidth-optimal all-reduce, to be compared with the link rate.
public struct AllReduceBenchmark {
    public struct Options: Sendable {
        /// Buffer size in MB (10^6 bytes).
        public var megabytes = 64.0
        public var repeats = 5
        public var warmup = 1
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

    public func run(collective: Collective, progress: (String) -> Void) throws -> Result {
        let count = max(1, Int(options.megabytes * 1e6 / 4))
        let n = collective.size
        // Rank r contributes (r + 1) · (i mod 7 + 1): every sum is exact in float32.
        let pattern = (0 ..< 7).map { Float(collective.rank + 1) * Float($0 + 1) }
        let total = Float(n * (n + 1) / 2)
        var buffer = [Float](repeating: 0, count: count)
        var times: [Double] = []
        for i in 0 ..< (options.warmup + options.repeats) {
            for j in 0 ..< count { buffer[j] = pattern[j % 7] }
            try collective.barrier()
            let start = Profiler.now()
            try buffer.withUnsafeMutableBufferPointer { try collective.startAllReduceSum($0).wait() }
            var slowest: [Int64] = [Int64(Profiler.now() - start)]
            try slowest.withUnsafeMutableBufferPointer { try collective.allReduceMax($0) }
            for j in stride(from: 0, to: count, by: max(1, count / 4096)) where buffer[j] != total * Float(j % 7 + 1) {
                throw Failure.wrongSum(element: j, found: buffer[j], expected: total * Float(j % 7 + 1), ranks: n)
            }
            if buffer[count - 1] != total * Float((count - 1) % 7 + 1) {
                throw Failure.wrongSum(element: count - 1, found: buffer[count - 1], expected: total * Float((count - 1) % 7 + 1), ranks: n)
            }
            let seconds = Double(slowest[0]) * 1e-9
            if i >= options.warmup {
                times.append(seconds)
                progress(String(format: "all-reduce %d/%d: %.1f MB in %.3f s", i - options.warmup + 1, options.repeats,
                                Double(count * 4) / 1e6, seconds))
            }
        }
        let median = times.sorted()[times.count / 2]
        let algbw = Double(count * 4) * 8 / median / 1e9
        return Result(ranks: n, bytes: count * 4, repeats: options.repeats, seconds: median, algbw_gbit_s: algbw,
                      busbw_gbit_s: algbw * 2 * Double(n - 1) / Double(n), algorithm: nil)
    }
}

extension AllReduceBenchmark.Result {
    public var report: String {
        [String(format: "in-place non-blocking all-reduce (MPI_Iallreduce), %d rank(s), %.1f MB float32%@", ranks, Double(bytes) / 1e6,
                algorithm.map { ", algorithm: \($0)" } ?? ""),
         String(format: "  %.4f s (median of %d, slowest rank): algorithm bandwidth %.3f Gbit/s, bus bandwidth %.3f Gbit/s",
                seconds, repeats, algbw_gbit_s, busbw_gbit_s),
         "  (bus bandwidth = algorithm bandwidth × 2(n−1)/n: what each rank's link carries each way, as nccl-tests reports it)"]
            .joined(separator: "\n")
    }
}
