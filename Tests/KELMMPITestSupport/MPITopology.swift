import KELMMPI

/// Where the test ranks run: the multi-rank tests run under mpirun on this machine, and again
/// on the simulated cluster (network namespaces, each a machine of its own to MPI, with one or
/// more ranks).
public enum MPITopology {
    /// True when there are several ranks and all of them share this machine's memory (then the
    /// dense gradients must go through the node's shared memory). Collective over `world`.
    public static func everyRankOnOneNode(_ world: Communicator) throws -> Bool {
        let sizes = try nodeSizes(world)
        return world.size > 1 && sizes.smallest == world.size
    }

    /// The number of ranks on each node when every node holds the same number (nil when they
    /// differ). Collective over `world`.
    public static func ranksPerNode(_ world: Communicator) throws -> Int? {
        let sizes = try nodeSizes(world)
        return sizes.smallest == sizes.largest ? sizes.largest : nil
    }

    /// Whether `train.allreduce: auto` sums the dense buckets through shared memory: several ranks,
    /// all on one node, or nodes of the same number of ranks, two or more (hierarchically). One
    /// node holding every rank is such a node, so both come to: equal nodes of two or more.
    public static func autoUsesSharedMemory(_ world: Communicator) throws -> Bool {
        let sizes = try nodeSizes(world)
        return world.size > 1 && sizes.smallest == sizes.largest && sizes.largest > 1
    }

    /// The fewest and the most ranks any node holds. Collective over `world`.
    static func nodeSizes(_ world: Communicator) throws -> (smallest: Int, largest: Int) {
        let node = try world.splitShared()
        let smallest = try world.allReduce(Int64(node.size), op: .min)
        let largest = try world.allReduce(Int64(node.size), op: .max)
        try node.close()
        return (Int(smallest), Int(largest))
    }
}
