import CMPI

/// One block of memory shared by the processes of a node communicator (MPI-3
/// `MPI_Win_allocate_shared`): the node's rank 0 allocates it, every process of the node maps
/// the same bytes (`MPI_Win_shared_query`). The owner of the window handle; `close()` frees it
/// (collective), `deinit` only as a safety net.
public final class SharedMemoryWindow {
    private var handle: MPI_Win?
    /// The shared bytes, the same on every process of the node.
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    public let communicator: Communicator

    /// Allocates `byteCount` bytes on `node`'s rank 0, visible to all its processes
    /// (collective over `node`, which must be a shared-memory communicator: `splitShared()`).
    public init(byteCount: Int, node: Communicator) throws {
        let call = "MPI_Win_allocate_shared"
        let comm = try node.liveHandle(call)
        var localBase: UnsafeMutableRawPointer? = nil
        var win: MPI_Win? = nil
        let mine = node.rank == 0 ? byteCount : 0
        try mpiCheck(MPI_Win_allocate_shared(MPI_Aint(mine), 1, kelm_mpi_info_null(), comm, &localBase, &win), call)
        guard let win else { throw MPIError.invalidArgument(call: call, reason: "no window returned") }
        handle = win
        var size: MPI_Aint = 0
        var unit: Int32 = 0
        var shared: UnsafeMutableRawPointer? = nil
        try mpiCheck(MPI_Win_shared_query(win, 0, &size, &unit, &shared), "MPI_Win_shared_query")
        guard let shared, Int(size) >= byteCount else {
            throw MPIError.invalidArgument(call: "MPI_Win_shared_query", reason: "rank 0's segment has \(size) bytes, \(byteCount) needed")
        }
        base = shared
        self.byteCount = byteCount
        communicator = node
    }

    /// Frees the window (collective over the node). Idempotent.
    public func close() throws {
        guard let owned = handle else { return }
        var h: MPI_Win? = owned
        handle = nil
        guard MPIRuntime.isActive else { return }
        try mpiCheck(MPI_Win_free(&h), "MPI_Win_free")
    }

    deinit {
        guard let owned = handle, MPIRuntime.isActive else { return }
        var h: MPI_Win? = owned
        reportFailure { try mpiCheck(MPI_Win_free(&h), "MPI_Win_free") }
    }
}
