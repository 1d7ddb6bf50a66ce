import CMPI

/// Collective operations. Every process of the communicator must make the same calls in the
/// same order, with the same counts where noted; a call that throws on one rank only leaves
/// the others waiting, so treat a thrown error as fatal for the job (`abort(code:message:)`).
extension Communicator {
    // MARK: All-reduce

    /// Reduces `buffer` element-wise over all processes in place (`MPI_Allreduce` with
    /// `MPI_IN_PLACE`); every process passes the same count and gets the result.
    public func allReduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: MPIReduceOp) throws {
        let call = "MPI_Allreduce"
        let comm = try liveHandle(call)
        let count = try mpiInt(buffer.count, call, "count")
        try mpiCheck(MPI_Allreduce(kelm_mpi_in_place(), buffer.baseAddress, count,
                                   T.mpiDatatype.handle, op.handle, comm), call)
    }

    /// Reduces `array` element-wise over all processes in place (same count on every process).
    public func allReduce<T: MPIScalar>(_ array: inout [T], op: MPIReduceOp) throws {
        try array.withUnsafeMutableBufferPointer { try allReduce($0, op: op) }
    }

    /// The reduction of one value over all processes.
    public func allReduce<T: MPIScalar>(_ value: T, op: MPIReduceOp) throws -> T {
        var result = [value]
        try allReduce(&result, op: op)
        return result[0]
    }

    /// Starts reducing `buffer` element-wise in place without blocking (`MPI_Iallreduce`).
    /// The buffer must stay valid and untouched until the returned request's `wait()`
    /// (or a `test()` that returns true).
    public func startAllReduce<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, op: MPIReduceOp) throws -> MPIRequest {
        let call = "MPI_Iallreduce"
        let comm = try liveHandle(call)
        let count = try mpiInt(buffer.count, call, "count")
        var request: MPI_Request? = kelm_mpi_request_null()
        try mpiCheck(MPI_Iallreduce(kelm_mpi_in_place(), buffer.baseAddress, count,
                                    T.mpiDatatype.handle, op.handle, comm, &request), call)
        return MPIRequest(handle: request, communicator: self)
    }

    // MARK: Broadcast

    /// Copies `root`'s buffer into every other process's buffer (`MPI_Bcast`); every process
    /// passes the same count.
    public func broadcast<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws {
        let call = "MPI_Bcast"
        let comm = try liveHandle(call)
        let count = try mpiInt(buffer.count, call, "count")
        try mpiCheck(MPI_Bcast(buffer.baseAddress, count, T.mpiDatatype.handle, try mpiInt(root, call, "root"), comm), call)
    }

    /// Copies `root`'s array into every other process's array (same count on every process).
    public func broadcast<T: MPIScalar>(_ array: inout [T], root: Int) throws {
        try array.withUnsafeMutableBufferPointer { try broadcast($0, root: root) }
    }

    /// `root`'s value, on every process.
    public func broadcast<T: MPIScalar>(_ value: T, root: Int) throws -> T {
        var result = [value]
        try broadcast(&result, root: root)
        return result[0]
    }

    /// Copies `root`'s array to every process, whatever their arrays' lengths were: the length
    /// is broadcast first and the other processes' arrays are replaced.
    public func broadcastResizing<T: MPIScalar>(_ array: inout [T], root: Int) throws {
        let count = try broadcast(Int64(array.count), root: root)
        if rank != root {
            array = try [T](unsafeUninitializedCapacity: Int(count)) { buffer, initialized in
                try broadcast(buffer, root: root)
                initialized = buffer.count
            }
        } else {
            try broadcast(&array, root: root)
        }
    }

    // MARK: All-gather

    /// Gathers every process's `send` (the same count on every process) into `receive`, in rank
    /// order (`MPI_Allgather`); `receive.count` must be `send.count * size`.
    public func allGather<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws {
        let call = "MPI_Allgather"
        let comm = try liveHandle(call)
        guard receive.count == send.count * size else {
            throw MPIError.invalidArgument(call: call, reason: "receive count \(receive.count) is not \(send.count) * \(size)")
        }
        let count = try mpiInt(send.count, call, "count")
        _ = try mpiInt(receive.count, call, "receive count")
        let type = T.mpiDatatype.handle
        try mpiCheck(MPI_Allgather(send.baseAddress, count, type, receive.baseAddress, count, type, comm), call)
    }

    /// The concatenation in rank order of every process's `send` (the same count on every process).
    public func allGather<T: MPIScalar>(_ send: [T]) throws -> [T] {
        try send.withUnsafeBufferPointer { send in
            try [T](unsafeUninitializedCapacity: send.count * size) { receive, initialized in
                try allGather(send, into: receive)
                initialized = receive.count
            }
        }
    }

    /// Every process's `value`, indexed by rank.
    public func allGather<T: MPIScalar>(_ value: T) throws -> [T] {
        try allGather([value])
    }

    /// The concatenation in rank order of every process's `send`, where each process contributes
    /// its own count (`MPI_Allgatherv`; counts and displacements are exchanged inside).
    public func allGatherV<T: MPIScalar>(_ send: UnsafeBufferPointer<T>) throws -> [T] {
        let layout = try allGatherVLayout(send.count)
        return try [T](unsafeUninitializedCapacity: layout.total) { receive, initialized in
            try allGatherV(send, layout, into: receive)
            initialized = layout.total
        }
    }

    /// `allGatherV` into `receive`, whose count must hold every process's contribution: no
    /// result array is allocated (the training step gathers into buffers made once). Returns
    /// the number of elements written.
    public func allGatherV<T: MPIScalar>(_ send: UnsafeBufferPointer<T>, into receive: UnsafeMutableBufferPointer<T>) throws -> Int {
        let layout = try allGatherVLayout(send.count)
        guard layout.total <= receive.count else {
            throw MPIError.invalidArgument(call: "MPI_Allgatherv", reason: "receive buffer holds \(receive.count), the ranks send \(layout.total)")
        }
        try allGatherV(send, layout, into: receive)
        return layout.total
    }

    /// Where each process's contribution to an `MPI_Allgatherv` of `count` elements from this
    /// process goes: every count (exchanged), their displacements and their sum.
    private func allGatherVLayout(_ count: Int) throws -> (counts: [Int32], displacements: [Int32], total: Int) {
        let call = "MPI_Allgatherv"
        let counts = try allGather(try mpiInt(count, call, "count"))
        let displacements = try displacements(of: counts, call: call)
        return (counts, displacements, Int(displacements.last ?? 0) + Int(counts.last ?? 0))
    }

    /// The `MPI_Allgatherv` itself, into `receive` (at least `layout.total` elements).
    private func allGatherV<T: MPIScalar>(_ send: UnsafeBufferPointer<T>,
                                          _ layout: (counts: [Int32], displacements: [Int32], total: Int),
                                          into receive: UnsafeMutableBufferPointer<T>) throws {
        let call = "MPI_Allgatherv"
        let comm = try liveHandle(call)
        let type = T.mpiDatatype.handle
        try mpiCheck(MPI_Allgatherv(send.baseAddress, layout.counts[rank], type,
                                    receive.baseAddress, layout.counts, layout.displacements, type, comm), call)
    }

    /// The concatenation in rank order of every process's `send`, each with its own count.
    public func allGatherV<T: MPIScalar>(_ send: [T]) throws -> [T] {
        try send.withUnsafeBufferPointer { try allGatherV($0) }
    }

    // MARK: Gather to root

    /// On `root`, the concatenation in rank order of every process's `send`, each with its own
    /// count (`MPI_Gatherv`); on the other processes, an empty array.
    public func gatherV<T: MPIScalar>(_ send: [T], root: Int) throws -> [T] {
        let call = "MPI_Gatherv"
        let comm = try liveHandle(call)
        let root32 = try mpiInt(root, call, "root")
        var count = try mpiInt(send.count, call, "count")
        let int32 = Int32.mpiDatatype.handle
        var counts = [Int32](repeating: 0, count: size)
        try mpiCheck(MPI_Gather(&count, 1, int32, &counts, 1, int32, root32, comm), "MPI_Gather")
        let type = T.mpiDatatype.handle
        if rank != root {
            try send.withUnsafeBufferPointer { send in
                try mpiCheck(MPI_Gatherv(send.baseAddress, count, type, nil, nil, nil, type, root32, comm), call)
            }
            return []
        }
        let displacements = try displacements(of: counts, call: call)
        let total = Int(displacements.last ?? 0) + Int(counts.last ?? 0)
        return try send.withUnsafeBufferPointer { send in
            try [T](unsafeUninitializedCapacity: total) { receive, initialized in
                try mpiCheck(MPI_Gatherv(send.baseAddress, count, type, receive.baseAddress,
                                         counts, displacements, type, root32, comm), call)
                initialized = total
            }
        }
    }

    /// Exclusive prefix sums of `counts`, checked to fit MPI's `int` (the same on every rank,
    /// so a throw here happens on every rank alike).
    private func displacements(of counts: [Int32], call: String) throws -> [Int32] {
        var displacements = [Int32]()
        displacements.reserveCapacity(counts.count)
        var offset = 0
        for count in counts {
            displacements.append(try mpiInt(offset, call, "displacement"))
            offset += Int(count)
        }
        _ = try mpiInt(offset, call, "total count")
        return displacements
    }
}
