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
///
/// Receives are posted ahead: every bucket's first one by `prepare()` (before backward), and each
/// next one when the step before it starts (reduce-scatter steps alternate between two scratch
/// chunks; an all-gather receive once no send of its chunk is pending). A message that arrives
/// before its receive is posted is buffered by the MPI library, which allocates for it: a
/// neighbour one step ahead would otherwise cause exactly that.
public final class RingAllReduce: BucketReduction {
    let buckets: [UnsafeMutableBufferPointer<Float>]
    let ranks: Int
    let rank: Int
    /// Phase steps per bucket: 2(P − 1).
    let steps: Int
    private let requests: PersistentRequests
    /// Each bucket's receive scratch (`slots` of its largest chunk) in one block.
    private let scratch: UnsafeMutablePointer<Float>
    private let scratchOffset: [Int]
    private let chunkCapacity: [Int]
    /// Scratch chunks per bucket: two (reduce-scatter receives alternate), one at 2 ranks.
    let slots: Int
    /// Per bucket: the step in flight; -1 before `start`, `steps` once complete.
    private var step: [Int]
    /// Per bucket: the receives posted this round, steps 0 ..< posted[b].
    private var posted: [Int]
    private var closed = false

    /// Collective over `communicator`: every rank passes buckets of the same sizes in the same order.
    public init(communicator: Communicator, buckets: [UnsafeMutableBufferPointer<Float>]) throws {
        self.buckets = buckets
        ranks = communicator.size
        rank = communicator.rank
        steps = 2 * (ranks - 1)
        let P = ranks, r = rank
        slots = min(2, max(P - 1, 1))
        var offsets: [Int] = [], capacities: [Int] = []
        var total = 0
        for b in buckets {
            offsets.append(total)
            capacities.append(P > 1 ? (b.count + P - 1) / P : 0)
            total += slots * capacities.last!
        }
        scratchOffset = offsets
        chunkCapacity = capacities
        scratch = .allocate(capacity: max(total, 1))
        scratch.initialize(repeating: 0, count: max(total, 1))
        step = Array(repeating: -1, count: buckets.count)
        posted = Array(repeating: 0, count: buckets.count)
        requests = PersistentRequests(communicator: communicator, capacity: buckets.count * 2 * steps)
        guard P > 1 else { return }
        let tagLimit = try PersistentRequests.tagUpperBound(communicator)
        guard buckets.count * steps - 1 <= tagLimit else {
            throw MPIError.invalidArgument(call: "RingAllReduce", reason: "\(buckets.count) buckets × \(steps) steps need more tags than MPI_TAG_UB (\(tagLimit)): raise train.bucket_mb")
        }
        let right = (r + 1) % P, left = (r + P - 1) % P
        for (b, bucket) in buckets.enumerated() {
            let n = bucket.count, base = bucket.baseAddress!
            for s in 0..<steps {
                let tag = b * steps + s
                let reduceScatter = s < P - 1
                let t = reduceScatter ? s : s - (P - 1)
                let send = Self.chunk(reduceScatter ? r - t : r + 1 - t, of: n, ranks: P)
                let receive = Self.chunk(reduceScatter ? r - t - 1 : r - t, of: n, ranks: P)
                try requests.addSend(UnsafeBufferPointer(start: base + send.lower, count: send.count), to: right, tag: tag)
                let into = reduceScatter ? scratch + offsets[b] + (s % slots) * capacities[b] : base + receive.lower
                try requests.addReceive(UnsafeMutableBufferPointer(start: into, count: receive.count), from: left, tag: tag)
            }
        }
    }

    deinit {
        if !closed { try? requests.free() }
        scratch.deallocate()
    }

    /// Chunk k (taken mod P) of a bucket of n elements: [⌊k·n/P⌋, ⌊(k+1)·n/P⌋).
    @inline(__always)
    static func chunk(_ k: Int, of n: Int, ranks p: Int) -> (lower: Int, count: Int) {
        let k = ((k % p) + p) % p
        return (k * n / p, (k + 1) * n / p - k * n / p)
    }

    /// Bytes one rank sends for bucket sizes `counts` over `ranks` ranks (2(P−1) chunks of each).
    public static func bytesSent(counts: [Int], ranks: Int) -> Int {
        guard ranks > 1 else { return 0 }
        return counts.reduce(0) { total, n in
            // every chunk but one leaves each rank in each phase
            total + 2 * (n - n / ranks) * MemoryLayout<Float>.stride
        }
    }

    /// Posts every bucket's first receive (call before the buckets' values are written: before
    /// backward). Optional: `start` posts what is not.
    public func prepare() throws {
        guard steps > 0 else { return }
        // a bucket in flight has posted at least its first receive
        for b in step.indices where posted[b] == 0 {
            try requests.start(receive(b, 0))
            posted[b] = 1
        }
    }

    public func start(_ b: Int) throws {
        guard steps > 0 else { step[b] = steps; return }
        step[b] = 0
        try begin(b, 0)
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

    @inline(__always)
    private func send(_ b: Int, _ s: Int) -> Range<Int> { let i = (b * steps + s) * 2; return i..<(i + 1) }

    @inline(__always)
    private func receive(_ b: Int, _ s: Int) -> Range<Int> { let i = (b * steps + s) * 2 + 1; return i..<(i + 1) }

    /// Step g of bucket b starts: its receive (unless posted already), its send, and the next
    /// step's receive when that is safe already.
    private func begin(_ b: Int, _ g: Int) throws {
        if posted[b] <= g {
            try requests.start(receive(b, g))
            posted[b] = g + 1
        }
        try requests.start(send(b, g))
        let next = g + 1
        if next < steps && posted[b] == next && canPostEarly(next) {
            try requests.start(receive(b, next))
            posted[b] = next + 1
        }
    }

    /// Whether receive g may be posted when step g − 1 starts: a reduce-scatter receive always
    /// (its scratch slot was consumed at the end of step g − 2); an all-gather receive, into chunk
    /// (r − t), once reduce-scatter step t's send of that chunk has completed (t = g − (P − 1) ≤
    /// g − 2): from 3 ranks on.
    @inline(__always)
    private func canPostEarly(_ g: Int) -> Bool {
        g < ranks - 1 || ranks >= 3
    }

    /// Bucket b's current step has completed: add what a reduce-scatter step received, start the next.
    private func advance(_ b: Int) throws {
        let s = step[b]
        if s < ranks - 1 {
            let c = Self.chunk(rank - s - 1, of: buckets[b].count, ranks: ranks)
            ElementWise.accumulate(buckets[b].baseAddress! + c.lower, scratch + scratchOffset[b] + (s % slots) * chunkCapacity[b], count: c.count)
        }
        step[b] = s + 1
        if s + 1 < steps { try begin(b, s + 1) } else { posted[b] = 0 }
    }
}
