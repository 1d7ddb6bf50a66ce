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
/// (r+1−s) mod P on and receives chunk (r−s) mod P, copied into place. Every rank ends with the
/// same bits. A bucket's steps run one after another (each waits for its send and its receive);
/// the buckets in flight progress independently, each with its own tags.
///
/// Every receive of a bucket is posted before any neighbour can send it (each into its own
/// scratch chunk, 2(P−1) of them per bucket, about twice the bucket): the first round's by
/// `prepare()`, every later round's the moment the round before completes. A message that
/// arrives before its receive is posted is buffered by the MPI library, which allocates for it
/// (Open MPI's ob1 over TCP: up to 64 KB per early fragment), and the left neighbour can run up
/// to P − 1 steps ahead (its step s needs only rank r − s's step 0 to have started), so posting a
/// step or two ahead is not enough across machines. The ring works on its own duplicate of the
/// communicator: rings on one communicator (plans, the path buffer) never match each other's
/// messages, and receives left posted for a plan not in use wait harmlessly.
public final class RingAllReduce: BucketReduction {
    let buckets: [UnsafeMutableBufferPointer<Float>]
    let ranks: Int
    let rank: Int
    /// Phase steps per bucket: 2(P − 1).
    let steps: Int
    /// This ring's own communicator (a duplicate); nil at one rank.
    private let communicator: Communicator?
    private let requests: PersistentRequests
    /// Each bucket's receive scratch (`steps` chunks of its largest chunk) in one block.
    private let scratch: UnsafeMutablePointer<Float>
    private let scratchOffset: [Int]
    private let chunkCapacity: [Int]
    /// Per bucket: the step in flight; -1 before `start`, `steps` once complete.
    private var step: [Int]
    /// Per bucket: every receive of its next (or current) round is posted.
    private var armed: [Bool]
    private var closed = false
    /// Closed with a bucket in flight (a run ending on an error): its requests may still be
    /// writing, so the scratch is never freed.
    private var abandoned = false

    /// Collective over `communicator`: every rank passes buckets of the same sizes in the same order.
    public init(communicator parent: Communicator, buckets: [UnsafeMutableBufferPointer<Float>]) throws {
        self.buckets = buckets
        ranks = parent.size
        rank = parent.rank
        steps = 2 * (ranks - 1)
        let P = ranks, r = rank
        var offsets: [Int] = [], capacities: [Int] = []
        var total = 0
        for b in buckets {
            offsets.append(total)
            capacities.append(P > 1 ? (b.count + P - 1) / P : 0)
            total += steps * capacities.last!
        }
        scratchOffset = offsets
        chunkCapacity = capacities
        step = Array(repeating: -1, count: buckets.count)
        armed = Array(repeating: false, count: buckets.count)
        guard P > 1 else {
            communicator = nil
            requests = PersistentRequests(communicator: parent, capacity: 0)
            scratch = .allocate(capacity: 1)
            scratch.initialize(to: 0)
            return
        }
        let tagLimit = try PersistentRequests.tagUpperBound(parent)
        guard buckets.count * steps - 1 <= tagLimit else {
            throw MPIError.invalidArgument(call: "RingAllReduce", reason: "\(buckets.count) buckets × \(steps) steps need more tags than MPI_TAG_UB (\(tagLimit)): raise train.bucket_mb")
        }
        let own = try parent.duplicate()
        communicator = own
        requests = PersistentRequests(communicator: own, capacity: buckets.count * 2 * steps)
        scratch = .allocate(capacity: max(total, 1))
        scratch.initialize(repeating: 0, count: max(total, 1))
        let right = (r + 1) % P, left = (r + P - 1) % P
        for (b, bucket) in buckets.enumerated() {
            let n = bucket.count, base = bucket.baseAddress!
            // the sends of steps 0 ..< steps, then the receives (one MPI_Startall posts them all)
            for s in 0..<steps {
                let reduceScatter = s < P - 1
                let t = reduceScatter ? s : s - (P - 1)
                let send = Self.chunk(reduceScatter ? r - t : r + 1 - t, of: n, ranks: P)
                try requests.addSend(UnsafeBufferPointer(start: base + send.lower, count: send.count), to: right, tag: b * steps + s)
            }
            for s in 0..<steps {
                let reduceScatter = s < P - 1
                let t = reduceScatter ? s : s - (P - 1)
                let receive = Self.chunk(reduceScatter ? r - t - 1 : r - t, of: n, ranks: P)
                try requests.addReceive(UnsafeMutableBufferPointer(start: slot(b, s), count: receive.count), from: left, tag: b * steps + s)
            }
        }
    }

    deinit {
        if !closed { try? close() }
        if !abandoned { scratch.deallocate() }
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

    /// Floats of receive scratch this ring holds: 2(P − 1) chunks of every bucket.
    public var scratchCount: Int { scratchOffset.last.map { $0 + steps * chunkCapacity.last! } ?? 0 }

    /// The buckets whose every receive of the coming round is posted.
    public var armedBuckets: Int { armed.lazy.filter { $0 }.count }

    /// Posts the receives of every bucket not posted yet (before the first round; later rounds'
    /// are posted as the round before completes). Optional: `start` posts what is not.
    public func prepare() throws {
        guard steps > 0 else { return }
        for b in armed.indices where !armed[b] { try arm(b) }
    }

    public func start(_ b: Int) throws {
        guard steps > 0 else { step[b] = steps; return }
        if !armed[b] { try arm(b) }
        step[b] = 0
        try requests.start(send(b, 0))
    }

    public func progress() throws {
        for b in step.indices where step[b] >= 0 && step[b] < steps {
            while step[b] < steps, try requests.testAll(send(b, step[b])), try requests.testAll(receive(b, step[b])) {
                try advance(b)
            }
        }
    }

    public func isComplete(_ b: Int) -> Bool { step[b] == steps }

    public func finish() throws {
        while true {
            try progress()
            // the oldest bucket still in flight: wait for its current step
            guard let b = step.indices.first(where: { step[$0] >= 0 && step[$0] < steps }) else { break }
            try requests.waitAll(send(b, step[b]))
            try requests.waitAll(receive(b, step[b]))
            try advance(b)
        }
    }

    /// Withdraws the receives posted for a round that will not come, frees the requests and the
    /// ring's communicator (collective: every rank calls it). Idempotent. With a bucket still in
    /// flight (a run ending on an error, the job about to be aborted) it only marks the ring
    /// closed: waiting could hang on a neighbour that is gone, and freeing could let a late
    /// message land in freed memory.
    public func close() throws {
        guard !closed else { return }
        closed = true
        guard let communicator, MPIRuntime.isActive else { return }
        if step.contains(where: { $0 >= 0 && $0 < steps }) {
            abandoned = true
            return
        }
        for b in armed.indices where armed[b] {
            try requests.cancel(receives(b))
            armed[b] = false
        }
        try requests.free()
        try communicator.close()
    }

    /// Bucket b's step-s scratch chunk.
    @inline(__always)
    private func slot(_ b: Int, _ s: Int) -> UnsafeMutablePointer<Float> {
        scratch + scratchOffset[b] + s * chunkCapacity[b]
    }

    @inline(__always)
    private func send(_ b: Int, _ s: Int) -> Range<Int> { let i = 2 * b * steps + s; return i..<(i + 1) }

    @inline(__always)
    private func receive(_ b: Int, _ s: Int) -> Range<Int> { let i = (2 * b + 1) * steps + s; return i..<(i + 1) }

    @inline(__always)
    private func receives(_ b: Int) -> Range<Int> { let i = (2 * b + 1) * steps; return i..<(i + steps) }

    /// Posts every receive of bucket b's next round.
    private func arm(_ b: Int) throws {
        try requests.start(receives(b))
        armed[b] = true
    }

    /// Bucket b's current step has completed: add (reduce-scatter) or copy (all-gather) what it
    /// received, start the next step's send; after the last, post the next round's receives.
    private func advance(_ b: Int) throws {
        let s = step[b]
        let reduceScatter = s < ranks - 1
        let t = reduceScatter ? s : s - (ranks - 1)
        let c = Self.chunk(reduceScatter ? rank - t - 1 : rank - t, of: buckets[b].count, ranks: ranks)
        let into = buckets[b].baseAddress! + c.lower
        if reduceScatter {
            ElementWise.accumulate(into, slot(b, s), count: c.count)
        } else {
            into.update(from: slot(b, s), count: c.count)
        }
        step[b] = s + 1
        if s + 1 < steps {
            try requests.start(send(b, s + 1))
        } else {
            // every scratch chunk of this round is consumed: the next round's receives can wait there
            try arm(b)
        }
    }
}
