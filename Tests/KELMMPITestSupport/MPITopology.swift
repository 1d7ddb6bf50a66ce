import KELMMPI

/// Where the test ranks run: the multi-rank tests run under mpirun on this machine, and again
/// on the simulated cluster (network namespaces, each a machine of its own to MPI, with one or
/// more ranks).
public enum MPITopology {
    /// True when there are several ranks and all of them share this machine's memory (then the
    /// dense gradients must go through the node's shared memory). Collective over `world`.
    public static func everyRankOnOneNode(_ world: Communicator) throws -> Bool {
        let node = try world.splitShared()
        let smallest = try world.allReduce(Int64(node.size), op: .min)
        try node.close()
        return world.size > 1 && smallest == Int64(world.size)
    }

    /// The number of ranks on each node when every node holds the same number (nil when they
    /// differ). Collective over `world`.
    public static func ranksPerNode(_ world: Communicator) throws -> Int? {
        let node = try world.splitShared()
        let smallest = try world.allReduce(Int64(node.size), op: .min)
        let largest = try world.allReduce(Int64(node.size), op: .max)
        try node.close()
        return smallest == largest ? Int(largest) : nil
    }

    /// Whether `train.allreduce: auto` sums the dense buckets through shared memory: several ranks,
    /// all on one node, or nodes of the same number of ranks, two or more (hierarchically).
    public static func autoUsesSharedMemory(_ world: Communicator) throws -> Bool {
        let oneNode = try everyRankOnOneNode(world)
        let perNode = try ranksPerNode(world) ?? 1
        return world.size > 1 && (oneNode || perNode > 1)
    }
}
