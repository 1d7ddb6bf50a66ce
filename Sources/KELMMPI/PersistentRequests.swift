import CMPI

/// The owner of a fixed set of persistent point-to-point requests (`MPI_Send_init`,
/// `MPI_Recv_init`) on one communicator: made once, then started and completed any number of
/// times with no allocation on our side (`MPI_Startall`, `MPI_Testall`, `MPI_Waitall` over a
/// contiguous range of them).
///
/// `free()` releases them (`MPI_Request_free`, local); every request must be inactive then
/// (completed, or never started). `deinit` frees what was not, as a safety net only. Keeps its
/// communicator alive. Not thread-safe (MPI runs `MPI_THREAD_FUNNELED`).
public final class PersistentRequests {
    private let handles: UnsafeMutablePointer<MPI_Request?>
    public let capacity: Int
    /// The requests made so far, `0 ..< count`.
    public private(set) var count = 0
    private let communicator: Communicator
    private var freed = false

    public init(communicator: Communicator, capacity: Int) {
        self.communicator = communicator
        self.capacity = capacity
        handles = .allocate(capacity: max(capacity, 1))
        handles.initialize(repeating: kelm_mpi_request_null(), count: max(capacity, 1))
    }

    deinit {
        if !freed && MPIRuntime.isActive { reportFailure { try free() } }
        handles.deallocate()
    }

    /// The largest tag this communicator accepts (`MPI_TAG_UB`, at least 32767).
    public static func tagUpperBound(_ communicator: Communicator) throws -> Int {
        let call = "MPI_Comm_get_attr"
        let comm = try communicator.liveHandle(call)
        var value: UnsafeMutableRawPointer? = nil
        var flag: Int32 = 0
        try withUnsafeMutablePointer(to: &value) {
            try mpiCheck(MPI_Comm_get_attr(comm, kelm_mpi_tag_ub_key(), UnsafeMutableRawPointer($0), &flag), call)
        }
        guard flag != 0, let value else { return 32767 }
        return Int(value.assumingMemoryBound(to: Int32.self).pointee)
    }

    /// Adds a persistent send of `buffer` to `destination` with `tag` (`MPI_Send_init`); returns its index.
    @discardableResult
    public func addSend<T: MPIScalar>(_ buffer: UnsafeBufferPointer<T>, to destination: Int, tag: Int) throws -> Int {
        let call = "MPI_Send_init"
        let comm = try communicator.liveHandle(call)
        guard count < capacity else { throw MPIError.invalidArgument(call: call, reason: "more than the \(capacity) requests made for") }
        try mpiCheck(MPI_Send_init(buffer.baseAddress, try mpiInt(buffer.count, call, "count"), T.mpiDatatype.handle,
                                   try mpiInt(destination, call, "destination"), try mpiInt(tag, call, "tag"), comm,
                                   handles + count), call)
        count += 1
        return count - 1
    }

    /// Adds a persistent receive into `buffer` from `source` with `tag` (`MPI_Recv_init`); returns its index.
    @discardableResult
    public func addReceive<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, from source: Int, tag: Int) throws -> Int {
        let call = "MPI_Recv_init"
        let comm = try communicator.liveHandle(call)
        guard count < capacity else { throw MPIError.invalidArgument(call: call, reason: "more than the \(capacity) requests made for") }
        try mpiCheck(MPI_Recv_init(buffer.baseAddress, try mpiInt(buffer.count, call, "count"), T.mpiDatatype.handle,
                                   try mpiInt(source, call, "source"), try mpiInt(tag, call, "tag"), comm,
                                   handles + count), call)
        count += 1
        return count - 1
    }

    /// Starts the requests `range` (`MPI_Startall`); none of them may be active.
    public func start(_ range: Range<Int>) throws {
        let call = "MPI_Startall"
        try requireLive(range, call)
        try mpiCheck(MPI_Startall(Int32(range.count), handles + range.lowerBound), call)
    }

    /// Whether every request of `range` has completed (`MPI_Testall`, which also drives progress).
    public func testAll(_ range: Range<Int>) throws -> Bool {
        let call = "MPI_Testall"
        try requireLive(range, call)
        var flag: Int32 = 0
        try mpiCheck(MPI_Testall(Int32(range.count), handles + range.lowerBound, &flag, kelm_mpi_statuses_ignore()), call)
        return flag != 0
    }

    /// Blocks until every request of `range` has completed (`MPI_Waitall`).
    public func waitAll(_ range: Range<Int>) throws {
        let call = "MPI_Waitall"
        try requireLive(range, call)
        try mpiCheck(MPI_Waitall(Int32(range.count), handles + range.lowerBound, kelm_mpi_statuses_ignore()), call)
    }

    /// Cancels the active requests of `range` (`MPI_Cancel`) and completes them (`MPI_Waitall`):
    /// a receive posted for a message that will not come is inactive afterwards. A request that
    /// completed before the cancel is simply completed.
    public func cancel(_ range: Range<Int>) throws {
        let call = "MPI_Cancel"
        try requireLive(range, call)
        for i in range { try mpiCheck(MPI_Cancel(handles + i), call) }
        try mpiCheck(MPI_Waitall(Int32(range.count), handles + range.lowerBound, kelm_mpi_statuses_ignore()), "MPI_Waitall")
    }

    /// Frees every request (`MPI_Request_free`); they must be inactive. Idempotent; after
    /// `MPIRuntime.finalize()` it only marks them freed (MPI released them).
    public func free() throws {
        guard !freed else { return }
        freed = true
        guard MPIRuntime.isActive else { return }
        for i in 0..<count where handles[i] != kelm_mpi_request_null() {
            try mpiCheck(MPI_Request_free(handles + i), "MPI_Request_free")
        }
    }

    /// `call` is a literal: nothing is allocated on the way through.
    private func requireLive(_ range: Range<Int>, _ call: String) throws {
        try MPIRuntime.requireActive(call)
        guard !freed else { throw MPIError.invalidArgument(call: call, reason: "the persistent requests were freed") }
        guard range.lowerBound >= 0 && range.upperBound <= count else {
            throw MPIError.invalidArgument(call: call, reason: "requests \(range) of \(count)")
        }
    }
}
