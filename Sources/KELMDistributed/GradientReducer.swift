import KELMNumerics

/// How one parameter tensor's gradient crosses the ranks (DESIGN §5).
public enum ReductionPolicy: Equatable, Sendable {
    /// Summed over ranks in byte-capped buckets.
    case dense
    /// Reduced along the knowledge paths (the routing's path buffer), not here.
    case routed
    /// No gradient at all.
    case frozen
}

/// Sums the dense gradients over ranks in byte-capped buckets, in one fixed order on every
/// rank (the order backward completes them: last layers first), each bucket started with a
/// non-blocking all-reduce as soon as backward has finished all its tensors.
///
/// A bucket is a contiguous range of the flat gradient buffer, reduced in place: no copies.
public final class GradientReducer {
    public struct Bucket: Equatable, Sendable {
        /// Table entries in the bucket.
        public let entries: [Int]
        /// Their elements in the flat buffer.
        public let range: Range<Int>
        /// Index in the stage order of the stage after which every entry is final.
        public let readyStage: Int
        public var bytes: Int { range.count * MemoryLayout<Float>.stride }
    }

    /// When a bucket's all-reduce was started and finished, relative to the step's start.
    public struct Timing: Sendable {
        public var startedNanoseconds: UInt64
        public var finishedNanoseconds: UInt64
    }

    public let buckets: [Bucket]
    let collective: Collective
    let grads: FlatBuffer
    private var pending: [PendingReduction?]
    private var started: [Bool]
    private var nextBucket = 0
    private var stepStart: UInt64 = 0
    public private(set) var timings: [Timing]

    /// - Parameters:
    ///   - readyStage: per table entry, the position (in the order backward completes them) of
    ///     the stage after which its gradient is final.
    ///   - capBytes: the largest bucket (a tensor larger than the cap gets a bucket of its own).
    public init(table: ParameterTable, policies: [ReductionPolicy], readyStage: [Int], capBytes: Int,
                grads: FlatBuffer, collective: Collective) {
        precondition(policies.count == table.entries.count && readyStage.count == table.entries.count,
                     "GradientReducer: one policy and one stage per entry")
        self.collective = collective
        self.grads = grads
        // Entries in completion order; within a stage from the last to the first, so that
        // consecutive entries are adjacent in memory and chain into contiguous buckets.
        let order = table.entries.indices.filter { policies[$0] == .dense }
            .sorted { readyStage[$0] != readyStage[$1] ? readyStage[$0] < readyStage[$1] : $0 > $1 }
        var result: [Bucket] = []
        var current: [Int] = []
        var lower = 0, upper = 0
        func close() {
            guard !current.isEmpty else { return }
            result.append(Bucket(entries: current, range: lower..<upper, readyStage: current.map { readyStage[$0] }.max()!))
            current = []
        }
        let cap = max(capBytes / MemoryLayout<Float>.stride, 1)
        for i in order {
            let e = table.entries[i]
            let adjacent = !current.isEmpty && e.offset + e.count == lower
            if !adjacent || (upper - e.offset) > cap { close() }
            if current.isEmpty { upper = e.offset + e.count }
            lower = e.offset
            current.append(i)
        }
        close()
        // A tensor larger than the cap (the tied word embedding: 47 MB at BERT's vocabulary) is
        // cut into cap-sized buckets: each one's all-reduce then works on pieces that stay in
        // cache instead of streaming the whole tensor through memory twice.
        result = result.flatMap { b -> [Bucket] in
            guard b.range.count > cap else { return [b] }
            return stride(from: b.range.lowerBound, to: b.range.upperBound, by: cap).map {
                Bucket(entries: b.entries, range: $0..<min($0 + cap, b.range.upperBound), readyStage: b.readyStage)
            }
        }
        buckets = result
        pending = Array(repeating: nil, count: result.count)
        started = Array(repeating: false, count: result.count)
        timings = Array(repeating: Timing(startedNanoseconds: 0, finishedNanoseconds: 0), count: result.count)
    }

    /// Total bytes of the dense gradients (what one step all-reduces here).
    public var denseBytes: Int { buckets.reduce(0) { $0 + $1.bytes } }

    /// Nanoseconds since `beginStep` (the reference point of `timings`).
    public var elapsedNanoseconds: UInt64 { Profiler.now() &- stepStart }

    /// Call before the backward pass of the micro-batch whose gradients are reduced.
    public func beginStep() {
        nextBucket = 0
        for i in started.indices { started[i] = false; pending[i] = nil }
        stepStart = Profiler.now()
    }

    /// Backward has completed the stage at position `stage` (and every one before it): start
    /// every bucket that is now complete, and let the ones in flight progress.
    public func stageCompleted(_ stage: Int) throws {
        while nextBucket < buckets.count && buckets[nextBucket].readyStage <= stage {
            let b = buckets[nextBucket]
            timings[nextBucket].startedNanoseconds = Profiler.now() &- stepStart
            pending[nextBucket] = try collective.startAllReduceSum(
                UnsafeMutableBufferPointer(start: grads.pointer + b.range.lowerBound, count: b.range.count))
            started[nextBucket] = true
            nextBucket += 1
        }
        try poll()
    }

    /// Lets the all-reduces in flight progress (MPI moves a non-blocking collective only
    /// inside MPI calls).
    public func poll() throws {
        for i in 0..<nextBucket {
            if let p = pending[i], try p.test() {
                timings[i].finishedNanoseconds = Profiler.now() &- stepStart
                pending[i] = nil
            }
        }
    }

    /// Starts what is left and waits for every bucket. Returns the nanoseconds spent waiting
    /// (the exposed communication).
    @discardableResult
    public func finish() throws -> UInt64 {
        let start = Profiler.now()
        try stageCompleted(Int.max)
        for i in 0..<buckets.count {
            if let p = pending[i] {
                try p.wait()
                timings[i].finishedNanoseconds = Profiler.now() &- stepStart
                pending[i] = nil
            }
        }
        return Profiler.now() &- start
    }
}
