import CMPI
import Foundation

/// The process-wide MPI lifetime: `MPI_Init_thread` exactly once, `MPI_Finalize` exactly once.
///
/// MPI is initialised lazily by the first `world()` (or explicitly by `initialize()`), with
/// `MPI_THREAD_FUNNELED`: every MPI call must come from the thread that initialised MPI (the
/// main thread). The world communicator is set to `MPI_ERRORS_RETURN`, so failures come back
/// as `MPIError` instead of aborting the job.
///
/// The program calls `finalize()` at its end; if it does not, an `atexit` handler finalises
/// MPI when the process exits normally. After `finalize()` every MPI operation (including a
/// new `initialize()`) throws `MPIError.finalized`; MPI is never finalised twice.
///
/// Works without `mpirun` (Open MPI singleton: one rank) and under `mpirun -np N`.
public enum MPIRuntime {
    /// Initialises MPI if this has not happened yet; does nothing if it is initialised.
    /// Throws `MPIError.finalized` after `finalize()`.
    public static func initialize() throws {
        _ = try world()
    }

    /// The world communicator (`MPI_COMM_WORLD`), initialising MPI on first use.
    /// Every call returns the same object.
    public static func world() throws -> Communicator {
        state.lock.lock()
        defer { state.lock.unlock() }
        switch state.phase {
        case .active(let world):
            return world
        case .finalized:
            throw MPIError.finalized(call: "MPI_Init_thread")
        case .uninitialized:
            let world = try startMPI()
            state.phase = .active(world)
            return world
        }
    }

    /// Finalises MPI (`MPI_Finalize`) if this process initialised it. Idempotent: a second call
    /// does nothing. Called before any MPI use, it only forbids later use. Every rank must call
    /// it, with no communication pending.
    public static func finalize() throws {
        state.lock.lock()
        defer { state.lock.unlock() }
        guard case .active = state.phase else {
            state.phase = .finalized
            return
        }
        state.phase = .finalized
        if state.ownsMPI {
            try mpiCheck(MPI_Finalize(), "MPI_Finalize")
        }
    }

    /// True between initialisation and finalisation.
    public static var isActive: Bool {
        state.lock.lock()
        defer { state.lock.unlock() }
        if case .active = state.phase { return true }
        return false
    }

    /// True once `finalize()` has been called (or the exit handler ran).
    public static var isFinalized: Bool {
        state.lock.lock()
        defer { state.lock.unlock() }
        if case .finalized = state.phase { return true }
        return false
    }

    /// The thread level MPI provided (`MPI_THREAD_FUNNELED` or higher); 0 before initialisation.
    public static var providedThreadLevel: Int32 {
        state.lock.lock()
        defer { state.lock.unlock() }
        return state.providedThreadLevel
    }

    /// Open MPI parameters this program sets before `MPI_Init` (as `OMPI_MCA_<name>`), unless
    /// the environment already names them (`mpirun --mca NAME VALUE`, `-x OMPI_MCA_NAME=…`):
    /// - `coll_libnbc_iallreduce_algorithm` 1 (ring): the gradient reducer's in-place
    ///   `MPI_Iallreduce`. Open MPI 4.1's `libnbc` otherwise picks its binomial algorithm for
    ///   every in-place call (a reduce to rank 0, then a broadcast): at 3 ranks rank 0's link
    ///   carries the whole buffer twice each way, one direction after the other. The ring sends
    ///   2(n−1)/n of the buffer each way per rank, both directions at once. docs/multihost.md
    ///   has the measurements.
    /// - `btl_tcp_flags` without `put`: with a receive posted before its message arrives (as the
    ///   gradient ring posts all of them), ob1 otherwise answers a large message over TCP with an
    ///   emulated put, which moves only while the sender sits in a blocking wait: on the simulated
    ///   cluster (2 hosts, 1 Gbit/s) no bucket completed during backward and the `full` step took
    ///   1,667–1,752 ms; with sends only, 1,331–1,471 ms (unlimited links: 1,020–1,118 against
    ///   1,055–1,087). docs/multihost.md, "Progress over TCP".
    /// - `btl_tcp_eager_limit`, `btl_tcp_rndv_eager_limit`, `btl_tcp_max_send_size` 4 MiB (from
    ///   64, 64 and 128 KiB): a ring chunk of a 4 MiB bucket goes in one eager message, with no
    ///   rendezvous handshake that needs both processes inside MPI at the same moment. The ring
    ///   posts every receive ahead, so an eager message lands in place (early fragments of other
    ///   traffic are buffered, as before, only larger). Simulated cluster, 1 Gbit/s, `full`:
    ///   2 hosts 1,260 and 1,308 ms per step against 1,405 and 1,471; 3 hosts 2,194 against 2,380.
    /// Other MPI libraries ignore these variables.
    public static let defaultOpenMPIParameters: [(name: String, value: String)] = [
        ("coll_libnbc_iallreduce_algorithm", "1"),
        ("btl_tcp_flags", "send,inplace,need-ack,need-csum"),
        ("btl_tcp_eager_limit", "4194304"),
        ("btl_tcp_rndv_eager_limit", "4194304"),
        ("btl_tcp_max_send_size", "4194304"),
    ]

    /// The value of the integer MPI control variable `name` (`MPI_T`; Open MPI exposes its MCA
    /// parameters this way, e.g. `coll_libnbc_iallreduce_algorithm`), or nil if MPI has no
    /// variable of that name. Initialises MPI if needed.
    public static func integerControlVariable(_ name: String) throws -> Int32? {
        _ = try world()
        var provided: Int32 = 0
        try mpiCheck(MPI_T_init_thread(kelm_mpi_thread_funneled(), &provided), "MPI_T_init_thread")
        defer { reportFailure { try mpiCheck(MPI_T_finalize(), "MPI_T_finalize") } }
        var index: Int32 = 0
        let found = MPI_T_cvar_get_index(name, &index)
        if found == MPI_T_ERR_INVALID_NAME { return nil }
        try mpiCheck(found, "MPI_T_cvar_get_index(\(name))")
        var handle: MPI_T_cvar_handle? = nil
        var count: Int32 = 0
        try mpiCheck(MPI_T_cvar_handle_alloc(index, nil, &handle, &count), "MPI_T_cvar_handle_alloc(\(name))")
        defer { reportFailure { try mpiCheck(MPI_T_cvar_handle_free(&handle), "MPI_T_cvar_handle_free(\(name))") } }
        guard count == 1 else {
            throw MPIError.invalidArgument(call: "MPI_T_cvar_read(\(name))", reason: "\(count) values, expected one integer")
        }
        var value: Int32 = 0
        try mpiCheck(MPI_T_cvar_read(handle, &value), "MPI_T_cvar_read(\(name))")
        return value
    }

    /// Prints `message` to stderr naming the world rank and aborts the whole job (`MPI_Abort`
    /// on the world communicator). Without active MPI it just exits with `code`.
    public static func abort(code: Int32, message: String) -> Never {
        let world = activeWorld()
        abortProcess(comm: world == nil ? nil : kelm_mpi_comm_world(), world: world, code: code, message: message)
    }

    // MARK: - Internals

    /// The process's MPI state; every access holds `lock`.
    private final class State: @unchecked Sendable {
        enum Phase {
            case uninitialized
            case active(Communicator)
            case finalized
        }
        let lock = NSLock()
        var phase = Phase.uninitialized
        /// False when MPI was already initialised by someone else; then we never finalise it.
        var ownsMPI = false
        var providedThreadLevel: Int32 = 0
        var exitHandlerRegistered = false
    }

    private static let state = State()

    /// Calls `MPI_Init_thread`, sets `MPI_ERRORS_RETURN` on the world and builds its
    /// communicator. Runs with `state.lock` held.
    private static func startMPI() throws -> Communicator {
        var initialized: Int32 = 0
        try mpiCheck(MPI_Initialized(&initialized), "MPI_Initialized")
        var finalized: Int32 = 0
        try mpiCheck(MPI_Finalized(&finalized), "MPI_Finalized")
        if finalized != 0 {
            state.phase = .finalized
            throw MPIError.finalized(call: "MPI_Init_thread")
        }
        let required = kelm_mpi_thread_funneled()
        var provided: Int32 = 0
        if initialized != 0 {
            // Someone else initialised MPI: use it, but leave finalising it to them.
            try mpiCheck(MPI_Query_thread(&provided), "MPI_Query_thread")
        } else {
            for parameter in defaultOpenMPIParameters {
                setenv("OMPI_MCA_" + parameter.name, parameter.value, 0)
            }
            try mpiCheck(MPI_Init_thread(nil, nil, required, &provided), "MPI_Init_thread")
            state.ownsMPI = true
            registerExitHandler()
        }
        state.providedThreadLevel = provided
        if provided < required {
            state.phase = .finalized
            if state.ownsMPI { reportFailure { try mpiCheck(MPI_Finalize(), "MPI_Finalize") } }
            throw MPIError.insufficientThreadSupport(required: required, provided: provided)
        }
        let handle: MPI_Comm = kelm_mpi_comm_world()
        try mpiCheck(MPI_Comm_set_errhandler(handle, kelm_mpi_errors_return()), "MPI_Comm_set_errhandler")
        var rank: Int32 = 0
        try mpiCheck(MPI_Comm_rank(handle, &rank), "MPI_Comm_rank")
        var size: Int32 = 0
        try mpiCheck(MPI_Comm_size(handle, &size), "MPI_Comm_size")
        return Communicator(world: handle, rank: Int(rank), size: Int(size))
    }

    /// The safety net: finalise MPI when the process exits without having called `finalize()`.
    private static func registerExitHandler() {
        guard !state.exitHandlerRegistered else { return }
        state.exitHandlerRegistered = true
        atexit { MPIRuntime.finalizeAtExit() }
    }

    private static func finalizeAtExit() {
        reportFailure { try finalize() }
    }

    /// Throws `MPIError.finalized(call:)` unless MPI is active. Communicators exist only after
    /// initialisation, so this is the only check they need besides their own `close()`.
    static func requireActive(_ call: String) throws {
        guard isActive else { throw MPIError.finalized(call: call) }
    }

    static func activeWorld() -> Communicator? {
        state.lock.lock()
        defer { state.lock.unlock() }
        if case .active(let world) = state.phase { return world }
        return nil
    }
}

/// Prints the message naming the rank, then `MPI_Abort(comm, code)`; if MPI is not active
/// (or `MPI_Abort` returns), exits the process with `code`.
func abortProcess(comm: MPI_Comm?, world: Communicator?, code: Int32, message: String) -> Never {
    let who = world.map { "rank \($0.rank) of \($0.size)" } ?? "rank ? (MPI not active)"
    printToStderr("kelm-dist [\(who)]: \(message)\n")
    fflush(stdout)
    if let comm, MPIRuntime.isActive {
        reportFailure { try mpiCheck(MPI_Abort(comm, code), "MPI_Abort") }
        // MPI_Abort does not return; if it did, do not run the exit handler's MPI_Finalize.
        _exit(code)
    }
    exit(code)
}

/// Writes `text` to stderr unbuffered (diagnostics of exit and deinit paths, and `abort`).
func printToStderr(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
}

/// Runs `body` where an error cannot be thrown (deinit, exit handler, abort) and prints it.
func reportFailure(_ body: () throws -> Void) {
    do {
        try body()
    } catch {
        printToStderr("KELMMPI: \(error)\n")
    }
}
