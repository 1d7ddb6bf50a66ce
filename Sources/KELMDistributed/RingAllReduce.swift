import KELMMPI
import KELMNumerics

/// Sums buckets in place over the ranks of a communicator with a ring (reduce-scatter, then
/// all-gather: each rank sends and receives 2(P−1)/P of a bucket, the least any all-reduce
/// moves), over persistent point-to-point requests made once: a step allocates nothing, neither
/// here nor in MPI (`MPI_Iallreduce`'s schedule is built, with its buffers, on every call).
///
/// Bucket b is cut into P chunks, chunk k = [⌊k·n/P⌋, ⌊(k+1)·n/P⌋). Reduce-scatter step s
/// (0 ..< P−1): rank r sends chunk (r−s) mod P to rank r+1 and adds the chunk (r−s−1) mod P it
/// receives from rank r−1 into its own; rank r then holds the sum of chunk (r+1) mod P, formed
/// along the ring from rank k: (((g_k + g_k+1) + g_k+2) + …). All-gather step s: it sends chunk
/// (r+1−s) mod P on and receives chunk (r−s) mod P into place. Every rank ends with the same bits.
/// A bucket's steps run one after another (each waits for its send and its receive); the buckets
/// in flight progress independently, each with its own tags and its own receive scratch.
public final class RingAllReduce: BucketReduction {
    let buckets: [UnsafeMutableBufferPointer<Float>]
    let ranks: Int
    let rank: Int
    /// Phase steps per bucket: 2(P − 1).
    let steps: Int
    private let requests: PersistentRequests
    /// Each bucket's receive scratch (its largest chunk) in one block.
    private let scratch: UnsafeMutablePointer<Float>
    private let scratchCount: Int
    private let scratchOffset: [Int]
    /// Per bucket: the step in flight; -1 before `start`, `steps` once complete.
    private var step: [Int]
    private var closed = false

    /// Collective over `communicator`: every rank passes buckets of the same sizes in the same order.
    public init(communicator: Communicator, buckets: [UnsafeMutableBufferPointer<Float>]) throws {
        self.buckets = buckets
        ranks = communicator.size
        rank = communicator.rank
        steps = 2 * (ranks - 1)
        let P = ranks, r = rank
        var offsets: [Int] = []
        var total = 0
        for b in buckets {
            offsets.append(total)
            total += P > 1 ? (b.count + P - 1) / P : 0
        }
        scratchOffset = offsets
        scratchCount = total
        scratch = .allocate(capacity: max(total, 1))
        scratch.initialize(repeating: 0, count: max(total, 1))
        step = Array(repeating: -1, count: buckets.count)
        requests = PersistentRequests(communicator: communicator, capacity: buckets.count * 2 * steps)
        guard P > 1 else { return }
        let tagLimit = try PersistentRequests.tagUpperBound(communicator)
        guard buckets.count * steps - 1 <= tagLimit else {
            throw MPIError.invalidArgument(call: "RingAllReduce", reason: "\(buckets.count) buckets × \(steps) steps need more tags than MPI_TAG_UB (\(tagLimit)): raise train.bucket_mb")
        }
        let right = (r + 1) % P, left = (r + P - 1) % P
        func mod(_ x: Int) -> Int { ((x % P) + P) % P }
        for (b, bucket) in buckets.enumerated() {
            let n = bucket.count, base = bucket.baseAddress!
            func chunk(_ k: Int) -> (lower: Int, count: Int) { (k * n / P, (k + 1) * n / P - k * n / P) }
            for s in 0..<steps {
                let tag = b * steps + s
                let reduceScatter = s < P - 1
                let t = reduceScatter ? s : s - (P - 1)
                let send = chunk(reduceScatter ? mod(r - t) : mod(r + 1 - t))
                let receive = chunk(reduceScatter ? mod(r - t - 1) : mod(r - t))
                try requests.addSend(UnsafeBufferPointer(start: base + send.lower, count: send.count), to: right, tag: tag)
                let into = reduceScatter ? scratch + offsets[b] : base + receive.lower
                try requests.addReceive(UnsafeMutableBufferPointer(start: into, count: receive.count), from: left, tag: tag)
            }
        }
    }

    deinit {
        if !closed { try? requests.free() }
        scratch.deallocate()
    }

    public var bucketCount: Int { buckets.count }

    /// Bytes one rank sends for bucket sizes `counts` over `ranks` ranks (2(P−1) chunks of each).
    public static func bytesSent(counts: [Int], ranks: Int) -> Int {
        guard ranks > 1 else { return 0 }
        return counts.reduce(0) { total, n in
            // every chunk but one leaves each rank in each phase
            total + 2 * (n - n / ranks) * MemoryLayout<Float>.stride
        }
    }

    public func start(_ b: Int) throws {
        guard steps > 0 else { step[b] = 0; return }
        step[b] = 0
        try requests.start(pair(b, 0))
    }

    public func progress() throws {
        for b in step.indices where step[b] >= 0 && step[b] < steps {
            while step[b] < steps, try requests.testAll(pair(b, step[b])) { try advance(b) }
        }
    }

    public func isComplete(_ b: Int) -> Bool { step[b] == steps }

    public func finish() throws {
        while true {
            try progress()
            // the oldest bucket still in flight: wait for its current step
            guard let b = step.indices.first(where: { step[$0] >= 0 && step[$0] < steps }) else { break }
            try requests.waitAll(pair(b, step[b]))
            try advance(b)
        }
    }

    public func close() throws {
        guard !closed else { return }
        closed = true
        try requests.free()
    }

    /// The requests of bucket b's step s: its send, then its receive.
    @inline(__always)
    private func pair(_ b: Int, _ s: Int) -> Range<Int> {
        let first = (b * steps + s) * 2
        return first..<(first + 2)
    }

    /// Bucket b's current step has completed: add what a reduce-scatter step received, start the next.
    private func advance(_ b: Int) throws {
        let s = step[b]
        if s < ranks - 1 {
            let n = buckets[b].count, k = ((rank - s - 1) % ranks + ranks) % ranks
            let lower = k * n / ranks, count = (k + 1) * n / ranks - lower
            ElementWise.accumulate(buckets[b].baseAddress! + lower, scratch + scratchOffset[b], count: count)
        }
        step[b] = s + 1
        if s + 1 < steps { try requests.start(pair(b, s + 1)) }
    }
}
