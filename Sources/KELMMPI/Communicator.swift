import CMPI

/// The owner of one MPI communicator handle: its rank and size, and the collectives on it
/// (see `Communicator+Collectives.swift`).
///
/// `MPIRuntime.world()` gives the world communicator, which is never freed. Communicators made
/// by `split(color:key:)`, `splitShared(key:)` and `duplicate()` are freed with `MPI_Comm_free` by `close()`
/// (collective: every member calls it); `deinit` frees a communicator that was not closed, as a
/// safety net only. Operations on a closed communicator throw `MPIError.communicatorClosed`,
/// after `MPIRuntime.finalize()` they throw `MPIError.finalized`.
///
/// Not thread-safe: MPI runs `MPI_THREAD_FUNNELED`, so use it from the main thread.
public final class Communicator {
    /// This process's rank in the communicator, `0 ..< size`.
    public let rank: Int
    /// The number of processes in the communicator.
    public let size: Int
    /// True for the world communicator (`MPI_COMM_WORLD`).
    public let isWorld: Bool

    /// The MPI handle; nil once closed.
    private var handle: MPI_Comm?

    /// The world communicator; only `MPIRuntime` makes it.
    init(world: MPI_Comm, rank: Int, size: Int) {
        self.handle = world
        self.rank = rank
        self.size = size
        self.isWorld = true
    }

    /// A communicator made by `MPI_Comm_split` / `MPI_Comm_split_type`, owned from now on.
    private init(derived: MPI_Comm, rank: Int, size: Int) {
        self.handle = derived
        self.rank = rank
        self.size = size
        self.isWorld = false
    }

    /// Takes ownership of the result of a split `call`: sets `MPI_ERRORS_RETURN` (inherited from
    /// the parent anyway, but explicit) and reads rank and size.
    private static func adopt(_ newComm: MPI_Comm?, call: String) throws -> Communicator {
        guard let comm = newComm, comm != kelm_mpi_comm_null() else {
            throw MPIError.invalidArgument(call: call, reason: "MPI returned MPI_COMM_NULL")
        }
        try mpiCheck(MPI_Comm_set_errhandler(comm, kelm_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0
        try mpiCheck(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank")
        var size: Int32 = 0
        try mpiCheck(MPI_Comm_size(comm, &size), "MPI_Comm_size")
        return Communicator(derived: comm, rank: Int(rank), size: Int(size))
    }

    deinit {
        guard let handle, !isWorld, MPIRuntime.isActive else { return }
        var h: MPI_Comm? = handle
        reportFailure { try mpiCheck(MPI_Comm_free(&h), "MPI_Comm_free") }
    }

    /// True once `close()` was called.
    public var isClosed: Bool { handle == nil }

    /// Frees a derived communicator (`MPI_Comm_free`, collective over its members). Idempotent.
    /// For the world communicator it does nothing (the world is not freed). After
    /// `MPIRuntime.finalize()` it only marks the communicator closed (MPI released it).
    public func close() throws {
        guard let owned = handle, !isWorld else { return }
        handle = nil
        guard MPIRuntime.isActive else { return }
        var h: MPI_Comm? = owned
        try mpiCheck(MPI_Comm_free(&h), "MPI_Comm_free")
    }

    /// The live handle for `call`, or throws `.finalized` / `.communicatorClosed`.
    func liveHandle(_ call: String) throws -> MPI_Comm {
        try MPIRuntime.requireActive(call)
        guard let handle else { throw MPIError.communicatorClosed(call: call) }
        return handle
    }

    /// Splits into sub-communicators (`MPI_Comm_split`, collective): processes with the same
    /// `color` (must be >= 0) form one communicator, ranked by `key`, ties by rank here.
    public func split(color: Int, key: Int) throws -> Communicator {
        let call = "MPI_Comm_split"
        let comm = try liveHandle(call)
        var newComm: MPI_Comm? = nil
        try mpiCheck(MPI_Comm_split(comm, try mpiInt(color, call, "color"), try mpiInt(key, call, "key"), &newComm), call)
        return try Communicator.adopt(newComm, call: call)
    }

    /// A communicator of the same processes in the same order with its own matching context
    /// (`MPI_Comm_dup`, collective): messages on it never match receives on this one.
    public func duplicate() throws -> Communicator {
        let call = "MPI_Comm_dup"
        let comm = try liveHandle(call)
        var newComm: MPI_Comm? = nil
        try mpiCheck(MPI_Comm_dup(comm, &newComm), call)
        return try Communicator.adopt(newComm, call: call)
    }

    /// The processes of this communicator that share memory with this one, i.e. run on the same
    /// node (`MPI_Comm_split_type` with `MPI_COMM_TYPE_SHARED`, collective), ranked by `key`.
    public func splitShared(key: Int = 0) throws -> Communicator {
        let call = "MPI_Comm_split_type"
        let comm = try liveHandle(call)
        var newComm: MPI_Comm? = nil
        try mpiCheck(MPI_Comm_split_type(comm, kelm_mpi_comm_type_shared(), try mpiInt(key, call, "key"),
                                         kelm_mpi_info_null(), &newComm), call)
        return try Communicator.adopt(newComm, call: call)
    }

    /// Blocks until every process of the communicator has called it (`MPI_Barrier`).
    public func barrier() throws {
        let call = "MPI_Barrier"
        try mpiCheck(MPI_Barrier(try liveHandle(call)), call)
    }

    /// Prints `message` to stderr naming this process's world rank and aborts the whole job
    /// (`MPI_Abort` on this communicator; Open MPI then kills every rank). Never returns.
    public func abort(code: Int32, message: String) -> Never {
        abortProcess(comm: handle ?? kelm_mpi_comm_world(), world: MPIRuntime.activeWorld(), code: code, message: message)
    }
}
