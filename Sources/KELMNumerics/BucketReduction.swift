/// Fixed ranges of memory ("buckets"), each summed in place over the ranks any number of times:
/// made once (collectively, every rank the same buckets in the same order), then, every step,
/// each bucket started as soon as its values are final, helped along while other work runs, and
/// waited for at the end.
///
/// `Collective.bucketReduction(_:)` makes the best one a collective has; `StartedBucketReduction`
/// is the generic one over `startAllReduceSum`.
public protocol BucketReduction: AnyObject {
    /// Gets ready for a round before the buckets' values are written (e.g. posts receives, so that
    /// a neighbour ahead of this rank finds them).
    func prepare() throws
    /// Starts summing bucket `i` (not in flight) over the ranks. Every rank starts the buckets in
    /// the same order.
    func start(_ i: Int) throws
    /// Lets the buckets in flight progress; returns without waiting.
    func progress() throws
    /// Whether bucket `i`, once started, has completed (as of the last `progress`/`finish`).
    func isComplete(_ i: Int) -> Bool
    /// Waits for every started bucket.
    func finish() throws
    /// Releases what it holds (nothing may be in flight). Idempotent.
    func close() throws
}

extension Collective {
    /// The generic reduction (`StartedBucketReduction`), for collectives without a better one.
    public func bucketReduction(_ buckets: [UnsafeMutableBufferPointer<Float>]) throws -> BucketReduction {
        StartedBucketReduction(collective: self, buckets: buckets)
    }
}

/// A `BucketReduction` that starts one `startAllReduceSum` per bucket (for MPI,
/// `MPI_Iallreduce`, which allocates in the MPI library every time).
public final class StartedBucketReduction: BucketReduction {
    let collective: Collective
    let buckets: [UnsafeMutableBufferPointer<Float>]
    private var pending: [PendingReduction?]
    private var done: [Bool]

    public init(collective: Collective, buckets: [UnsafeMutableBufferPointer<Float>]) {
        self.collective = collective
        self.buckets = buckets
        pending = Array(repeating: nil, count: buckets.count)
        done = Array(repeating: false, count: buckets.count)
    }

    public func prepare() throws {}

    public func start(_ i: Int) throws {
        done[i] = false
        pending[i] = try collective.startAllReduceSum(buckets[i])
    }

    public func progress() throws {
        for i in pending.indices {
            if let p = pending[i], try p.test() { pending[i] = nil; done[i] = true }
        }
    }

    public func isComplete(_ i: Int) -> Bool { done[i] }

    public func finish() throws {
        for i in pending.indices {
            if let p = pending[i] { try p.wait(); pending[i] = nil; done[i] = true }
        }
    }

    public func close() throws {}
}
