import KELMNumerics

/// `sgemm` throughput measured on given shapes, in the layout the model's forward uses
/// (C[m, n] = A[m, k] · B[n, k]ᵀ).
public struct SgemmPeak: Sendable {
    public struct Shape: Sendable, Equatable, Codable {
        public var m: Int, k: Int, n: Int
        public init(m: Int, k: Int, n: Int) { self.m = m; self.k = k; self.n = n }
        public var flops: Double { 2 * Double(m) * Double(k) * Double(n) }
    }

    public struct Measurement: Sendable, Codable {
        public var shape: Shape
        /// The better of the two rates below: the peak the step is compared with.
        public var gflops: Double
        /// `sgemm` as the step calls it (split over the compute threads, OpenBLAS single-threaded).
        public var split_gflops: Double?
        /// OpenBLAS's own threading with as many threads (absent with one thread).
        public var openblas_threaded_gflops: Double?
    }

    public var measurements: [Measurement]
    /// The rate sgemm reaches on the shapes weighted by `weights` (FLOP share of each):
    /// Σ FLOP / Σ (FLOP / rate).
    public var combinedGflops: Double

    /// Runs each shape for about `seconds` and combines the rates with `weights`.
    /// With several compute threads (`Parallel.threads`) each shape is measured both as the
    /// step runs it (blocks of C over the compute threads) and with OpenBLAS's own threading on
    /// as many threads; the faster counts, so the peak is never flattered by our own splitting.
    public static func measure(shapes: [Shape], weights: [Double], seconds: Double = 0.3) -> SgemmPeak {
        precondition(shapes.count == weights.count && !shapes.isEmpty, "SgemmPeak: one weight per shape")
        let threads = Parallel.threads
        var results: [Measurement] = []
        for s in shapes {
            let a = FlatBuffer(count: s.m * s.k), b = FlatBuffer(count: s.n * s.k), c = FlatBuffer(count: s.m * s.n)
            for i in 0..<a.count { a.pointer[i] = Float(i % 7) * 0.01 }
            for i in 0..<b.count { b.pointer[i] = Float(i % 5) * 0.01 }
            func rate() -> Double {
                func run() {
                    sgemm(.none, .transposed, m: s.m, n: s.n, k: s.k, a: a.pointer, lda: s.k,
                          b: b.pointer, ldb: s.k, beta: 0, c: c.pointer, ldc: s.n)
                }
                run()  // warm-up (threads, caches)
                var reps = 0
                let start = Profiler.now()
                var elapsed = 0.0
                repeat {
                    run()
                    reps += 1
                    elapsed = Double(Profiler.now() - start) * 1e-9
                } while elapsed < seconds
                return s.flops * Double(reps) / elapsed * 1e-9
            }
            let split = rate()
            var native: Double? = nil
            if threads > 1 {
                Parallel.setThreads(1)
                OpenBLAS.setLibraryThreads(threads)
                native = rate()
                OpenBLAS.setThreads(threads)
            }
            results.append(Measurement(shape: s, gflops: max(split, native ?? 0),
                                       split_gflops: split, openblas_threaded_gflops: native))
        }
        let totalWeight = weights.reduce(0, +)
        var timePerFlop = 0.0
        for (r, w) in zip(results, weights) { timePerFlop += (w / totalWeight) / r.gflops }
        return SgemmPeak(measurements: results, combinedGflops: 1 / timePerFlop)
    }
}
