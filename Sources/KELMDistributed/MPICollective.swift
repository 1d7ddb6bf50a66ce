import KELMMPI
import KELMNumerics

/// `Collective` over an MPI communicator, and what the ranks of a node can share through it.
public final class MPICollective: Collective, NodeSharing {
    public let communicator: Communicator

    /// Node-shared gradient buffers made through this collective, until `close()`.
    public private(set) var sharedGradients: [NodeSharedGradients] = []
    /// Node-shared memory windows made through this collective, until `close()`. Held here, not
    /// only by the trainer: freeing a window is collective, so if it were freed while an error
    /// unwinds the trainer on one rank, that rank would wait for the others instead of aborting.
    public private(set) var sharedMemories: [NodeSharedMemory] = []

    public init(_ communicator: Communicator) { self.communicator = communicator }

    /// Gradient buffers shared by the ranks, when all of them run on one node (nil otherwise).
    /// Collective. They stay valid until `close()`.
    public func nodeSharedGradients(count: Int, buckets: [Range<Int>], hierarchy: NodeSharedGradients.Hierarchy = .never) throws -> NodeSharedGradients? {
        try nodeSharedGradients(count: count, plans: [buckets], hierarchy: hierarchy)
    }

    /// As `nodeSharedGradients(count:buckets:)`, serving several bucket plans (`activate(plan:)`).
    public func nodeSharedGradients(count: Int, plans: [[Range<Int>]], hierarchy: NodeSharedGradients.Hierarchy = .never) throws -> NodeSharedGradients? {
        guard let shared = try NodeSharedGradients.make(job: communicator, count: count, plans: plans, hierarchy: hierarchy) else { return nil }
        sharedGradients.append(shared)
        return shared
    }

    public func sharedGradients(count: Int, plans: [[Range<Int>]], hierarchy: NodeSharedGradients.Hierarchy) throws -> NodeSharedGradients? {
        try nodeSharedGradients(count: count, plans: plans, hierarchy: hierarchy)
    }

    public func sharedMemory(bytes: Int) throws -> NodeSharedMemory? {
        guard let shared = try NodeSharedMemory.make(world: communicator, bytes: bytes) else { return nil }
        sharedMemories.append(shared)
        return shared
    }

    /// Frees what this collective made (collective: every rank calls it). The communicator stays.
    public func close() throws {
        for shared in sharedMemories { try shared.window.close() }
        sharedMemories.removeAll()
        for shared in sharedGradients { try shared.close() }
        sharedGradients.removeAll()
    }

    public var rank: Int { communicator.rank }
    public var size: Int { communicator.size }

    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws { try communicator.allReduce(buffer, op: .sum) }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws { try communicator.allReduce(buffer, op: .sum) }
    public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws { try communicator.allReduce(buffer, op: .sum) }
    public func allReduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws { try communicator.allReduce(buffer, op: .max) }

    public func startAllReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws -> PendingReduction {
        Request(try communicator.startAllReduce(buffer, op: .sum))
    }

    /// The ring over persistent point-to-point requests (`RingAllReduce`): nothing allocated per step.
    public func bucketReduction(_ buckets: [UnsafeMutableBufferPointer<Float>]) throws -> BucketReduction {
        try RingAllReduce(communicator: communicator, buckets: buckets)
    }

    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Float>, root: Int) throws { try communicator.broadcast(buffer, root: root) }
    public func broadcast(_ buffer: UnsafeMutableBufferPointer<Int64>, root: Int) throws { try communicator.broadcast(buffer, root: root) }
    public func allGatherV(_ send: UnsafeBufferPointer<Float>) throws -> [Float] { try communicator.allGatherV(send) }
    public func allGatherV(_ send: UnsafeBufferPointer<Double>) throws -> [Double] { try communicator.allGatherV(send) }
    public func allGatherV(_ send: UnsafeBufferPointer<Int64>) throws -> [Int64] { try communicator.allGatherV(send) }
    public func allGatherV(_ send: UnsafeBufferPointer<Float>, into receive: UnsafeMutableBufferPointer<Float>) throws -> Int {
        try communicator.allGatherV(send, into: receive)
    }
    public func allGatherV(_ send: UnsafeBufferPointer<Int64>, into receive: UnsafeMutableBufferPointer<Int64>) throws -> Int {
        try communicator.allGatherV(send, into: receive)
    }
    public func barrier() throws { try communicator.barrier() }

    final class Request: PendingReduction {
        let request: MPIRequest
        init(_ request: MPIRequest) { self.request = request }
        func wait() throws { try request.wait() }
        func test() throws -> Bool { try request.test() }
    }
}
