import CMPI

/// The owner of one pending non-blocking operation (`MPI_Request`), e.g. from
/// `Communicator.startAllReduce(_:op:)`.
///
/// Call `wait()` (or `test()` until it returns true) before touching the operation's buffer.
/// A request dropped while pending is waited for in `deinit` (a safety net: MPI forbids freeing
/// a pending collective request). Keeps its communicator alive.
public final class MPIRequest {
    private var handle: MPI_Request?
    private let communicator: Communicator

    init(handle: MPI_Request?, communicator: Communicator) {
        self.handle = handle
        self.communicator = communicator
    }

    deinit {
        guard !isComplete, MPIRuntime.isActive else { return }
        reportFailure { try mpiCheck(MPI_Wait(&handle, kelm_mpi_status_ignore()), "MPI_Wait") }
    }

    /// True once the operation completed (after `wait()` or a `test()` that returned true).
    public var isComplete: Bool {
        guard let handle else { return true }
        return handle == kelm_mpi_request_null()
    }

    /// Blocks until the operation completes (`MPI_Wait`). Does nothing if it already completed.
    public func wait() throws {
        guard !isComplete else { return }
        let call = "MPI_Wait"
        try MPIRuntime.requireActive(call)
        try mpiCheck(MPI_Wait(&handle, kelm_mpi_status_ignore()), call)
    }

    /// Whether the operation has completed (`MPI_Test`), without blocking; also drives progress.
    public func test() throws -> Bool {
        guard !isComplete else { return true }
        let call = "MPI_Test"
        try MPIRuntime.requireActive(call)
        var flag: Int32 = 0
        try mpiCheck(MPI_Test(&handle, &flag, kelm_mpi_status_ignore()), call)
        return flag != 0
    }
}
