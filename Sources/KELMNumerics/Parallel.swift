#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The compute threads of this process: the caller plus `threads − 1` persistent workers.
///
/// Every parallel kernel (the split `sgemm`, attention over (segment, head) pairs, the
/// element-wise kernels, AdamW) divides its work into chunks and runs them here; OpenBLAS
/// itself then runs single-threaded inside each chunk (see `OpenBLAS.setThreads`), so one set
/// of threads does all the work and no two thread pools compete for the cores.
///
/// A region is entered from one thread at a time (the training loop's); a kernel called from
/// inside a region (a chunk calling `sgemm`, say) runs its chunks serially on the calling
/// thread.
///
/// Nothing is allocated per region. That is why a region's body is a C function (a closure
/// literal that captures nothing) with its state behind a pointer (`with:` copies the given
/// value to the caller's stack for the region): a Swift closure that captures would have to be
/// made escaping for the workers to call it, which allocates its context every time.
public enum Parallel {
    /// A region's body: `body(context, chunk, thread)`, `thread` < `threads` (for per-thread
    /// scratch). Write it as a closure literal that captures nothing; read the state from
    /// `context` (`context.load(as: State.self)`).
    public typealias Body = @convention(c) (_ context: UnsafeRawPointer, _ chunk: Int, _ thread: Int) -> Void
    /// The body of `forRanges`: `body(context, lower, upper)` for the piece lower..<upper.
    public typealias RangeBody = @convention(c) (_ context: UnsafeRawPointer, _ lower: Int, _ upper: Int) -> Void

    /// Compute threads (1 = everything runs on the caller).
    public static var threads: Int { pool.count }

    /// Sets the number of compute threads (≥ 1). Starts or stops workers; call between steps.
    public static func setThreads(_ n: Int) { pool.resize(max(1, n)) }

    /// True while a region runs (on any thread): nested kernels then run serially.
    public static var isActive: Bool { pool.active }

    /// Index of the calling thread among the compute threads: 0 for the caller of a region
    /// (and any thread outside one), 1..<threads for the workers. For per-thread scratch.
    public static var threadIndex: Int { Int(bitPattern: pthread_getspecific(pool.key)) }

    /// Runs `body(context, chunk, thread)` for every chunk in 0..<chunks on the compute threads
    /// (chunks are handed out in order, each to the next free thread) and returns when all are
    /// done; `context` points at a copy of `state` that lives as long as the region.
    @inlinable
    public static func run<State>(chunks: Int, with state: State, _ body: Body) {
        if chunks <= 0 { return }
        withUnsafePointer(to: state) { run(chunks: chunks, context: UnsafeRawPointer($0), body) }
    }

    /// `run(chunks:with:_:)` with the state already behind a pointer.
    public static func run(chunks: Int, context: UnsafeRawPointer, _ body: Body) {
        if chunks <= 0 { return }
        if chunks == 1 || pool.count == 1 || pool.active {
            let t = threadIndex
            for c in 0..<chunks { body(context, c, t) }
            return
        }
        pool.execute(chunks: chunks, task: Task(body: body, context: context))
    }

    struct Task {
        let body: Body
        let context: UnsafeRawPointer
    }

    /// How many chunks to split `count` items into when each chunk should hold at least
    /// `grain` items: 1 when single-threaded or nested, else up to `perThread` chunks per thread.
    public static func chunkCount(_ count: Int, grain: Int, perThread: Int = 4) -> Int {
        let t = pool.count
        if t == 1 || pool.active || count < 2 * grain { return 1 }
        return max(1, min(t * perThread, count / max(grain, 1)))
    }

    /// Runs `body(context, lower, upper)` over contiguous pieces lower..<upper of 0..<count, each
    /// of at least `grain` items (piece boundaries are multiples of `align`), in parallel when it
    /// pays; `context` points at a copy of `state`.
    @inlinable
    public static func forRanges<State>(_ count: Int, grain: Int, align: Int = 16, with state: State,
                                        _ body: RangeBody) {
        if count <= 0 { return }
        withUnsafePointer(to: state) { forRanges(count, grain: grain, align: align, context: UnsafeRawPointer($0), body) }
    }

    /// `forRanges(_:grain:align:with:_:)` with the state already behind a pointer.
    public static func forRanges(_ count: Int, grain: Int, align: Int = 16, context: UnsafeRawPointer,
                                 _ body: RangeBody) {
        let chunks = chunkCount(count, grain: grain)
        if chunks <= 1 {
            if count > 0 { body(context, 0, count) }
            return
        }
        let pieces = Pieces(context: context, body: body, count: count, chunks: chunks, align: align)
        run(chunks: chunks, with: pieces) { raw, c, _ in
            let p = raw.load(as: Pieces.self)
            let r = Parallel.piece(c, of: p.chunks, count: p.count, align: p.align)
            if !r.isEmpty { p.body(p.context, r.lowerBound, r.upperBound) }
        }
    }

    struct Pieces {
        let context: UnsafeRawPointer
        let body: RangeBody
        let count: Int, chunks: Int, align: Int
    }

    /// The c-th of `chunks` contiguous pieces of 0..<count (boundaries multiples of `align`).
    @inlinable
    public static func piece(_ c: Int, of chunks: Int, count: Int, align: Int = 1) -> Range<Int> {
        func bound(_ i: Int) -> Int {
            if i >= chunks { return count }
            let b = (count * i / chunks) / align * align
            return min(b, count)
        }
        return bound(c)..<bound(c + 1)
    }

    /// A buffer of at least `count` floats for one kernel's per-chunk or per-thread partial
    /// results (contents undefined). Call outside a region, from the thread that starts
    /// regions; the buffer is valid until the next call. It grows (allocates) only when more
    /// is asked for than ever before, so a training step allocates nothing after the first.
    public static func scratch(_ count: Int) -> UnsafeMutablePointer<Float> {
        precondition(!pool.active, "Parallel.scratch inside a parallel region")
        if scratchBuffer.count < count { scratchBuffer = FlatBuffer(count: count) }
        return scratchBuffer.pointer
    }

    private static var scratchBuffer = FlatBuffer(count: 0)

    static let pool = WorkerPool()
}

/// The workers behind `Parallel`. All shared state is guarded by `mutex`, except the
/// generation counter workers poll briefly before sleeping (a hint only).
final class WorkerPool {
    private(set) var count = 1
    private(set) var active = false
    let key: pthread_key_t

    private var mutex = pthread_mutex_t()
    private var workAvailable = pthread_cond_t()
    private var allDone = pthread_cond_t()
    /// The running region's body and state, or nil.
    private var task: Parallel.Task? = nil
    private var chunks = 0
    private var next = 0
    private var completed = 0
    private var running = 0         // workers started and not asked to stop
    private var stopAbove = Int.max // workers with index ≥ this exit
    private var threadsStarted: [pthread_t] = []
    /// Bumped (under the mutex) when work is posted; workers spin on it briefly.
    private let generation: UnsafeMutablePointer<Int>

    init() {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        key = k
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&workAvailable, nil)
        pthread_cond_init(&allDone, nil)
        generation = .allocate(capacity: 1)
        generation.initialize(to: 0)
    }

    func resize(_ n: Int) {
        precondition(!active, "Parallel.setThreads inside a parallel region")
        if n == count { return }
        if n < count {
            pthread_mutex_lock(&mutex)
            stopAbove = n
            pthread_cond_broadcast(&workAvailable)
            pthread_mutex_unlock(&mutex)
            for t in threadsStarted[(n - 1)...] { pthread_join(t, nil) }
            threadsStarted.removeLast(count - n)
            pthread_mutex_lock(&mutex)
            stopAbove = Int.max
            pthread_mutex_unlock(&mutex)
        } else {
            for index in count..<n {
                let context = Unmanaged.passRetained(WorkerContext(pool: self, index: index)).toOpaque()
                var attributes = pthread_attr_t()
                pthread_attr_init(&attributes)
                pthread_attr_setstacksize(&attributes, 8 << 20)
#if canImport(Glibc)
                var thread = pthread_t()
#else
                var thread: pthread_t? = nil
#endif
                let rc = pthread_create(&thread, &attributes, { raw in
                    let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                    ctx.pool.workerLoop(index: ctx.index)
                    return nil
                }, context)
                pthread_attr_destroy(&attributes)
                precondition(rc == 0, "Parallel: pthread_create failed (\(rc))")
#if canImport(Glibc)
                threadsStarted.append(thread)
#else
                threadsStarted.append(thread!)
#endif
            }
        }
        count = n
    }

    /// Caller side of a region.
    func execute(chunks n: Int, task body: Parallel.Task) {
        pthread_mutex_lock(&mutex)
        if active {
            // another thread's region is running: do this one serially
            pthread_mutex_unlock(&mutex)
            let t = Parallel.threadIndex
            for c in 0..<n { body.body(body.context, c, t) }
            return
        }
        task = body
        chunks = n
        next = 0
        completed = 0
        active = true
        generation.pointee &+= 1
        pthread_cond_broadcast(&workAvailable)
        pthread_mutex_unlock(&mutex)
        // the caller works too (thread 0)
        drain(thread: 0)
        pthread_mutex_lock(&mutex)
        while completed < chunks { pthread_cond_wait(&allDone, &mutex) }
        task = nil
        chunks = 0
        next = 0
        active = false
        pthread_mutex_unlock(&mutex)
    }

    /// Takes chunks until none is left.
    private func drain(thread: Int) {
        while true {
            pthread_mutex_lock(&mutex)
            guard next < chunks else {
                pthread_mutex_unlock(&mutex)
                return
            }
            let c = next
            next += 1
            pthread_mutex_unlock(&mutex)
            invoke(c, thread)
            pthread_mutex_lock(&mutex)
            completed += 1
            if completed == chunks { pthread_cond_signal(&allDone) }
            pthread_mutex_unlock(&mutex)
        }
    }

    /// Runs chunk c of the current task (set before the chunk was handed out, cleared only
    /// after every chunk completed).
    private func invoke(_ c: Int, _ thread: Int) {
        guard let task else { return }
        task.body(task.context, c, thread)
    }

    private func workerLoop(index: Int) {
        pthread_setspecific(key, UnsafeRawPointer(bitPattern: index))
        var seen = 0
        while true {
            // Poll briefly before sleeping: regions often follow each other closely.
            var spins = 0
            while generation.pointee == seen && spins < 2000 {
                sched_yield()
                spins += 1
            }
            pthread_mutex_lock(&mutex)
            while next >= chunks && index < stopAbove {
                pthread_cond_wait(&workAvailable, &mutex)
            }
            if index >= stopAbove {
                pthread_mutex_unlock(&mutex)
                return
            }
            seen = generation.pointee
            pthread_mutex_unlock(&mutex)
            drain(thread: index)
        }
    }
}

private final class WorkerContext {
    let pool: WorkerPool
    let index: Int
    init(pool: WorkerPool, index: Int) {
        self.pool = pool
        self.index = index
    }
}
