import CAtomics
#if canImport(Glibc)
import Glibc
#endif
import KELMMPI
import KELMNumerics

/// The dense reduction of DESIGN §5 among ranks that share a node, through memory instead of
/// messages: every rank's gradient buffer lives in one MPI-3 shared-memory window, and each
/// bucket is cut into one chunk per rank. When every rank has finished a bucket, the owner of a
/// chunk sums it over the ranks (in rank order) reading their buffers directly, and the others
/// copy the sum. Per rank and step that is one pass adding 1/N of the gradient and one copy of
/// the rest: no send buffer, no receive buffer, no kernel copy. Against `MPI_Iallreduce`
/// through Open MPI's shared-memory transport (ring, single-copy) it leaves out one copy and
/// the MPI progress engine; the step's CPU time spent reducing falls about fourfold
/// (`docs/performance.md`).
///
/// Every element of the sum is computed once, by its chunk's owner, so every replica gets the
/// same bits. Ordering between ranks uses one flag word per (rank, bucket), written only by that
/// rank with release stores and read with acquire loads; a flag holds the number of the round
/// (step) it was set in, so nothing is reset between steps.
///
/// Per round: `beginRound`; `markReady(b)` for the buckets in order as backward completes them;
/// `progress(started:)` whenever convenient; `finishRound(started:)` once backward is over. It
/// returns only when no other rank will read this rank's buffer again in the round, so the
/// caller may then zero and rewrite it.
///
/// The buffers can serve several bucket plans (the adaptation stage under `full`, then the
/// preset, DESIGN §5): `activate(plan:)` between rounds, on every rank at the same round.
///
/// **Hierarchical** (a job over several nodes with L ranks on each, issue #22): the owner of a
/// chunk, once it has summed it over its node, all-reduces it with the owners of the same chunk
/// on the other nodes (the ranks of the same local index: `cross`, a `RingAllReduce` per plan over
/// that chunk of every bucket), and only then lets its node copy it. Each node's link carries
/// 2(M−1)/M of a bucket each way for M nodes, whatever L is; every replica gets the same bits.
public final class NodeSharedGradients {
    /// When the buckets may be summed hierarchically, over several nodes.
    public enum Hierarchy: Sendable {
        /// Only when every rank of the job runs on this node (nil otherwise).
        case never
        /// Also over several nodes when each has the same number of ranks, at least two.
        case whenSeveralRanksPerNode
        /// Over several nodes whenever each has the same number of ranks (one included); an
        /// error otherwise.
        case always
    }

    /// This rank's place among the node's ranks (the world's rank order).
    public let localRank: Int
    public let localSize: Int
    /// This rank's gradient buffer: a view into the window (give it to `ParameterStore`).
    public let gradients: FlatBuffer
    /// The bucket plans these buffers serve: each the buckets' element ranges in the gradient
    /// buffer, in reduction order.
    public let plans: [[Range<Int>]]
    /// The plan in use (`activate(plan:)`).
    public private(set) var activePlan = 0
    /// The buckets of the active plan.
    public var buckets: [Range<Int>] { plans[activePlan] }
    /// Buckets of the largest plan (the flag lines have room for them).
    let maxBuckets: Int
    let node: Communicator
    let window: SharedMemoryWindow
    /// Every rank's gradient buffer, by local rank.
    let buffers: [UnsafeMutablePointer<Float>]
    /// Flag words: per rank one line of `flagStride` words: ready[bucket], reduced[bucket], done.
    let flags: UnsafeMutablePointer<Int64>
    let flagStride: Int
    /// The round in progress (1, 2, …); flags set in it hold this value.
    private(set) var round: Int64 = 0
    /// Local state of the round, made once: whether this rank has summed its chunk of each
    /// bucket, which chunks it has copied (bucket · localSize + rank), which buckets are complete.
    private var summed: [Bool]
    private var copied: [Bool]
    private var complete: [Bool]
    public private(set) var completeCount = 0
    /// Partial sums of more than two ranks (so that a chunk's owner can sum in rank order into
    /// its own buffer, one of the terms).
    private let scratch: FlatBuffer
    /// The ranks of the other nodes with this local rank, when summing hierarchically.
    public let cross: Communicator?
    /// Per plan, the ring over `cross` of this rank's chunk of every bucket.
    private let rings: [RingAllReduce]
    /// Per bucket of the round: this rank's chunk is final (summed over the node and, when
    /// hierarchical, over the nodes) and its summed flag set.
    private var announced: [Bool]
    /// Whether the job spans several nodes and the buckets go across them from here.
    public var isHierarchical: Bool { (cross?.size ?? 1) > 1 }

    /// Gradient buffers of `count` floats for every rank of `job`, shared, when every rank of
    /// the job runs on this node, there are at least two, and the shared-memory file system
    /// holds them; nil otherwise (then the reduction goes through MPI). Collective over `job`;
    /// every rank gets the same answer, and all must pass the same `count` and `buckets`.
    public static func make(job: Communicator, count: Int, buckets: [Range<Int>], hierarchy: Hierarchy = .never) throws -> NodeSharedGradients? {
        try make(job: job, count: count, plans: [buckets], hierarchy: hierarchy)
    }

    /// As `make(job:count:buckets:)`, for several bucket plans over the same buffers.
    public static func make(job: Communicator, count: Int, plans: [[Range<Int>]], hierarchy: Hierarchy = .never) throws -> NodeSharedGradients? {
        precondition(!plans.isEmpty, "NodeSharedGradients: at least one bucket plan")
        guard job.size > 1 else { return nil }
        let node = try job.splitShared(key: job.rank)
        let bytes = Layout(ranks: node.size, count: count, buckets: plans.map(\.count).max()!).windowBytes
        // each pair (x, −x) reduced by max gives the largest and the smallest value over the ranks
        let mine: [Int64] = [Int64(node.size), Int64(Self.fitsInSharedMemory(bytes: bytes) ? 1 : 0),
                             Int64(bitPattern: Self.digest(count: count, plans: plans) >> 2)]
        var extremes = mine.flatMap { [$0, -$0] }
        try job.allReduce(&extremes, op: .max)
        guard extremes[4] == -extremes[5] else {
            try node.close()
            throw MPIError.invalidArgument(call: "NodeSharedGradients.make", reason: "the ranks pass different gradient sizes or buckets")
        }
        let oneNode = extremes[0] == Int64(job.size) && -extremes[1] == Int64(job.size)
        let uniform = extremes[0] == -extremes[1], perNode = Int(extremes[0])
        let fits = -extremes[3] == 1
        if !oneNode && hierarchy == .always && !(uniform && fits) {
            try node.close()
            throw MPIError.invalidArgument(call: "NodeSharedGradients.make", reason: uniform
                ? "train.allreduce: hierarchical, but /dev/shm on some node has no room for \(perNode) gradient buffers of \(count * 4 / 1_000_000) MB"
                : "train.allreduce: hierarchical needs the same number of ranks on every node; they hold \(-extremes[1]) to \(extremes[0])")
        }
        let hierarchical = !oneNode && uniform && fits
            && (hierarchy == .always || (hierarchy == .whenSeveralRanksPerNode && perNode > 1))
        // otherwise a job spread over several nodes, or one whose buffers do not fit, uses MPI everywhere
        guard fits && (oneNode || hierarchical) else {
            try node.close()
            return nil
        }
        let cross = hierarchical ? try job.split(color: node.rank, key: job.rank) : nil
        return try NodeSharedGradients(node: node, cross: cross, count: count, plans: plans)
    }

    /// Where the window lives: the flag lines, then each rank's buffer, each page-aligned.
    struct Layout {
        let ranks: Int, flagStride: Int, headerBytes: Int, bufferFloats: Int
        init(ranks: Int, count: Int, buckets: Int) {
            self.ranks = ranks
            let lineWords = 8   // one 64-byte cache line
            flagStride = (2 * buckets + 1 + lineWords - 1) / lineWords * lineWords
            headerBytes = (ranks * flagStride * MemoryLayout<Int64>.stride + 4095) / 4096 * 4096
            bufferFloats = (count + 1023) / 1024 * 1024
        }
        var windowBytes: Int { headerBytes + ranks * bufferFloats * MemoryLayout<Float>.stride }
    }

    /// Whether the shared-memory file system (where Open MPI backs its windows) has room for
    /// `bytes` and a margin: a window that does not fit would end the process at its first touch
    /// (SIGBUS), e.g. in a container with a 64 MB `/dev/shm`. True where there is no `/dev/shm`.
    static func fitsInSharedMemory(bytes: Int) -> Bool {
        var s = statvfs()
        guard statvfs("/dev/shm", &s) == 0 else { return true }
        let free = Double(s.f_bavail) * Double(s.f_frsize)
        return free >= Double(bytes) * 1.1 + 64 * 1_048_576
    }

    /// FNV-1a over the element count and every plan's bucket count and bounds (64-bit little-endian each).
    static func digest(count: Int, plans: [[Range<Int>]]) -> UInt64 {
        var h = FNV1a64.offsetBasis
        for v in [count] + plans.flatMap({ [$0.count] + $0.flatMap { [$0.lowerBound, $0.upperBound] } }) {
            withUnsafeBytes(of: Int64(v).littleEndian) { FNV1a64.mix(&h, $0) }
        }
        return h
    }

    init(node: Communicator, cross: Communicator? = nil, count: Int, plans: [[Range<Int>]]) throws {
        precondition(plans.joined().allSatisfy { $0.lowerBound >= 0 && $0.upperBound <= count }, "NodeSharedGradients: bucket outside the buffer")
        self.node = node
        self.plans = plans
        maxBuckets = plans.map(\.count).max() ?? 0
        localRank = node.rank
        localSize = node.size
        let layout = Layout(ranks: node.size, count: count, buckets: maxBuckets)
        flagStride = layout.flagStride
        window = try SharedMemoryWindow(byteCount: layout.windowBytes, node: node)
        flags = window.base.bindMemory(to: Int64.self, capacity: localSize * flagStride)
        let first = (window.base + layout.headerBytes).bindMemory(to: Float.self, capacity: localSize * layout.bufferFloats)
        buffers = (0..<localSize).map { first + $0 * layout.bufferFloats }
        gradients = FlatBuffer(external: buffers[localRank], count: count)
        // each rank clears its own flags and buffer (so the pages are first touched by their user)
        (flags + localRank * flagStride).initialize(repeating: 0, count: flagStride)
        gradients.zero()
        summed = Array(repeating: false, count: maxBuckets)
        copied = Array(repeating: false, count: maxBuckets * localSize)
        complete = Array(repeating: false, count: maxBuckets)
        scratch = FlatBuffer(count: localSize > 2 ? Self.scratchFloats : 0)
        announced = Array(repeating: false, count: maxBuckets)
        self.cross = cross
        let mine = buffers[localRank], me = localRank, p = localSize
        rings = try cross.map { cross in
            try plans.map { plan in
                try RingAllReduce(communicator: cross, buckets: plan.map { r in
                    let c = Self.chunk(r, owner: me, ranks: p)
                    return UnsafeMutableBufferPointer(start: mine + c.lowerBound, count: c.count)
                })
            }
        } ?? []
        try node.barrier()
    }

    static let scratchFloats = 4096

    /// Frees the window and the node communicator (collective over the node). Idempotent.
    /// `gradients` (and every view of it) is invalid afterwards.
    public func close() throws {
        isClosed = true
        for ring in rings { try ring.close() }
        try cross?.close()
        try window.close()
        try node.close()
    }

    /// True once `close()` was called: the buffers are gone.
    public private(set) var isClosed = false

    /// The part of `bucket` that local rank `owner` sums: the bucket cut into `localSize`
    /// near-equal contiguous chunks.
    public func chunk(_ bucket: Int, owner: Int) -> Range<Int> {
        Self.chunk(buckets[bucket], owner: owner, ranks: localSize)
    }

    static func chunk(_ r: Range<Int>, owner: Int, ranks p: Int) -> Range<Int> {
        let n = r.count
        let base = n / p, extra = n % p
        let lower = r.lowerBound + owner * base + min(owner, extra)
        return lower..<(lower + base + (owner < extra ? 1 : 0))
    }

    func readyFlag(_ rank: Int, _ bucket: Int) -> UnsafeMutablePointer<Int64> { flags + rank * flagStride + bucket }
    func summedFlag(_ rank: Int, _ bucket: Int) -> UnsafeMutablePointer<Int64> { flags + rank * flagStride + maxBuckets + bucket }
    func doneFlag(_ rank: Int) -> UnsafeMutablePointer<Int64> { flags + rank * flagStride + 2 * maxBuckets }

    /// Uses bucket plan `plan` from the next round on. Between rounds only, and on every rank
    /// before the same round (a flag holds the round it was set in, so the other plan's flags of
    /// earlier rounds never count).
    public func activate(plan: Int) {
        precondition(plan >= 0 && plan < plans.count, "NodeSharedGradients: no bucket plan \(plan)")
        activePlan = plan
    }

    /// Starts a round (a step's reduction). Every rank calls it the same number of times.
    public func beginRound() throws {
        round += 1
        // the receives of the ring across nodes, posted before a neighbour can send
        if !rings.isEmpty { try rings[activePlan].prepare() }
        for i in summed.indices { summed[i] = false; complete[i] = false; announced[i] = false }
        for i in copied.indices { copied[i] = false }
        completeCount = 0
    }

    /// This rank has finished `bucket` (its gradients there are final for the round).
    public func markReady(_ bucket: Int) {
        kelm_atomic_store_release(readyFlag(localRank, bucket), round)
    }

    /// True once `bucket` holds the sum over every rank in this rank's buffer.
    public func isComplete(_ bucket: Int) -> Bool { complete[bucket] }

    /// Does the work that is possible now among the first `started` buckets (those this rank
    /// has marked ready): sums this rank's chunk of every bucket all ranks have finished, and
    /// copies the chunks other ranks have summed.
    public func progress(started: Int) throws {
        let me = localRank, p = localSize
        for b in 0..<started where !summed[b] {
            var allReady = true
            for s in 0..<p where kelm_atomic_load_acquire(readyFlag(s, b)) < round { allReady = false; break }
            guard allReady else { continue }
            sumChunk(chunk(b, owner: me))
            summed[b] = true
            if rings.isEmpty {
                kelm_atomic_store_release(summedFlag(me, b), round)
                announced[b] = true
            } else {
                // then over the nodes; the node copies it once that is done
                try rings[activePlan].start(b)
            }
        }
        if !rings.isEmpty {
            let ring = rings[activePlan]
            try ring.progress()
            for b in 0..<started where summed[b] && !announced[b] && ring.isComplete(b) {
                kelm_atomic_store_release(summedFlag(me, b), round)
                announced[b] = true
            }
        }
        for b in 0..<started where !complete[b] {
            var all = announced[b]
            for s in 0..<p where s != me && !copied[b * p + s] {
                if kelm_atomic_load_acquire(summedFlag(s, b)) >= round {
                    let c = chunk(b, owner: s)
                    (buffers[me] + c.lowerBound).update(from: buffers[s] + c.lowerBound, count: c.count)
                    copied[b * p + s] = true
                } else {
                    all = false
                }
            }
            if all { complete[b] = true; completeCount += 1 }
        }
    }

    /// Completes the first `started` buckets (all of them, normally), then waits until every
    /// rank has done the same: after that no rank reads this rank's buffer in this round.
    public func finishRound(started: Int) throws {
        while completeCount < started {
            try progress(started: started)
            if completeCount < started { sched_yield() }
        }
        kelm_atomic_store_release(doneFlag(localRank), round)
        for s in 0..<localSize where s != localRank {
            while kelm_atomic_load_acquire(doneFlag(s)) < round { sched_yield() }
        }
    }

    /// buffers[me][range] = Σ over ranks in rank order of buffers[s][range].
    private func sumChunk(_ range: Range<Int>) {
        // one rank on the node (hierarchical over nodes of one rank): its buffer is the node's sum
        guard !range.isEmpty, localSize > 1 else { return }
        if localSize == 2 {
            let l = range.lowerBound
            ElementWise.add(y: buffers[localRank] + l, buffers[0] + l, buffers[1] + l, count: range.count)
            return
        }
        var lower = range.lowerBound
        while lower < range.upperBound {
            let n = min(Self.scratchFloats, range.upperBound - lower)
            ElementWise.add(y: scratch.pointer, buffers[0] + lower, buffers[1] + lower, count: n)
            for s in 2..<localSize { ElementWise.accumulate(scratch.pointer, buffers[s] + lower, count: n) }
            (buffers[localRank] + lower).update(from: scratch.pointer, count: n)
            lower += n
        }
    }
}
