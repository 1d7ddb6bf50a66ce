import KELMMPI
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
/// rank (the order backward completes them: last layers first), each bucket started as soon as
/// backward has finished all its tensors: the collective's `BucketReduction` (for MPI a ring over
/// persistent point-to-point requests, `RingAllReduce`; `MPI_Iallreduce` when asked), or, when
/// every rank runs on one node, the node's shared-memory reduction (`NodeSharedGradients`).
///
/// A bucket is a contiguous range of the flat gradient buffer, reduced in place.
public final class GradientReducer {
    public struct Bucket: Equatable, Sendable {
        /// Table entries in the bucket.
        public let entries: [Int]
        /// Their elements in the flat buffer.
        public let range: Range<Int>
        /// Index in the stage order of the stage after which every entry is final.
        public let readyStage: Int
        public var bytes: Int { range.count * MemoryLayout<Float>.stride }
        public init(entries: [Int], range: Range<Int>, readyStage: Int) {
            self.entries = entries
            self.range = range
            self.readyStage = readyStage
        }
    }

    /// When a bucket's all-reduce was started and finished, relative to the step's start.
    public struct Timing: Sendable {
        public var startedNanoseconds: UInt64
        public var finishedNanoseconds: UInt64
    }

    public let buckets: [Bucket]
    /// How the buckets cross the ranks when they are not summed through the node's shared memory.
    public let reduction: BucketReduction?
    /// The node's shared gradient buffers, when the buckets are summed through them.
    public let shared: NodeSharedGradients?
    /// Which of the shared buffers' bucket plans is this reducer's.
    public let sharedPlan: Int
    let grads: FlatBuffer
    private var nextBucket = 0
    private var stepStart: UInt64 = 0
    public private(set) var timings: [Timing]

    /// - Parameters:
    ///   - readyStage: per table entry, the position (in the order backward completes them) of
    ///     the stage after which its gradient is final.
    ///   - capBytes: the largest bucket (a tensor larger than the cap is cut into cap-sized buckets).
    ///   - shared: when given, buckets are summed through the node's shared memory instead of
    ///     `collective` (its buckets must be this plan's: `plan(...)`), and `grads` must be its
    ///     `gradients`.
    public convenience init(table: ParameterTable, policies: [ReductionPolicy], readyStage: [Int], capBytes: Int,
                            grads: FlatBuffer, collective: Collective, shared: NodeSharedGradients? = nil) throws {
        try self.init(buckets: Self.plan(table: table, policies: policies, readyStage: readyStage, capBytes: capBytes),
                      grads: grads, collective: collective, shared: shared)
    }

    public init(buckets: [Bucket], grads: FlatBuffer, collective: Collective, shared: NodeSharedGradients? = nil, sharedPlan: Int = 0) throws {
        precondition(shared.map { sharedPlan < $0.plans.count && $0.plans[sharedPlan] == buckets.map(\.range) && $0.gradients.pointer == grads.pointer } ?? true,
                     "GradientReducer: the shared gradients were made for other buckets or another buffer")
        self.buckets = buckets
        self.grads = grads
        self.shared = shared
        self.sharedPlan = sharedPlan
        let ranges = buckets.map { UnsafeMutableBufferPointer(start: grads.pointer + $0.range.lowerBound, count: $0.range.count) }
        reduction = shared != nil ? nil : try collective.bucketReduction(ranges)
        timings = Array(repeating: Timing(startedNanoseconds: 0, finishedNanoseconds: 0), count: buckets.count)
    }

    /// The buckets for these entries: dense entries in the order backward completes them, chained
    /// while adjacent in memory and under `capBytes`.
    public static func plan(table: ParameterTable, policies: [ReductionPolicy], readyStage: [Int], capBytes: Int) -> [Bucket] {
        precondition(policies.count == table.entries.count && readyStage.count == table.entries.count,
                     "GradientReducer: one policy and one stage per entry")
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
        return result.flatMap { b -> [Bucket] in
            guard b.range.count > cap else { return [b] }
            return stride(from: b.range.lowerBound, to: b.range.upperBound, by: cap).map {
                Bucket(entries: b.entries, range: $0..<min($0 + cap, b.range.upperBound), readyStage: b.readyStage)
            }
        }
    }

    /// Throws when the node's shared buffers this reducer sums through (and the gradients in
    /// them) were freed: `MPICollective.close()` must come after the last step.
    public func requireBuffers() throws {
        if let shared, shared.isClosed {
            throw MPIError.invalidArgument(call: "GradientReducer", reason: "the node's shared gradient buffers were freed (MPICollective.close) before this step")
        }
    }

    /// Total bytes of the dense gradients (what one step all-reduces here).
    public var denseBytes: Int { buckets.reduce(0) { $0 + $1.bytes } }

    /// Nanoseconds since `beginStep` (the reference point of `timings`).
    public var elapsedNanoseconds: UInt64 { Profiler.now() &- stepStart }

    /// Call before the backward pass of the micro-batch whose gradients are reduced.
    public func beginStep() throws {
        nextBucket = 0
        for i in timings.indices { timings[i].finishedNanoseconds = 0 }
        shared?.activate(plan: sharedPlan)
        try shared?.beginRound()
        try reduction?.prepare()
        stepStart = Profiler.now()
    }

    /// Backward has completed the stage at position `stage` (and every one before it): start
    /// every bucket that is now complete, and let the ones in flight progress.
    public func stageCompleted(_ stage: Int) throws {
        while nextBucket < buckets.count && buckets[nextBucket].readyStage <= stage {
            timings[nextBucket].startedNanoseconds = Profiler.now() &- stepStart
            if let shared {
                shared.markReady(nextBucket)
            } else {
                try reduction?.start(nextBucket)
            }
            nextBucket += 1
        }
        try poll()
    }

    /// Lets the all-reduces in flight progress (MPI moves a non-blocking collective only
    /// inside MPI calls).
    public func poll() throws {
        if let shared {
            let before = shared.completeCount
            try shared.progress(started: nextBucket)
            if shared.completeCount != before { recordSharedCompletions() }
            return
        }
        guard let reduction else { return }
        try reduction.progress()
        recordCompletions(reduction)
    }

    /// Starts what is left and waits for every bucket. Returns the nanoseconds spent waiting
    /// (the exposed communication).
    @discardableResult
    public func finish() throws -> UInt64 {
        let start = Profiler.now()
        try stageCompleted(Int.max)
        if let shared {
            try shared.finishRound(started: nextBucket)
            recordSharedCompletions()
            return Profiler.now() &- start
        }
        if let reduction {
            try reduction.finish()
            recordCompletions(reduction)
        }
        return Profiler.now() &- start
    }

    /// Releases the reduction's MPI requests and communicator (every rank, after the last step).
    public func close() throws { try reduction?.close() }

    /// Notes when the buckets the reduction completed did so.
    private func recordCompletions(_ reduction: BucketReduction) {
        let now = Profiler.now() &- stepStart
        for i in 0..<nextBucket where timings[i].finishedNanoseconds == 0 && reduction.isComplete(i) {
            timings[i].finishedNanoseconds = now
        }
    }

    /// Notes when the buckets the shared-memory reduction completed did so.
    private func recordSharedCompletions() {
        guard let shared else { return }
        let now = Profiler.now() &- stepStart
        for i in 0..<nextBucket where timings[i].finishedNanoseconds == 0 && shared.isComplete(i) {
            timings[i].finishedNanoseconds = now
        }
    }
}
