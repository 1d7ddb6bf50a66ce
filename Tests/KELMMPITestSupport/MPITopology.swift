import KELMMPI

/// Where the test ranks run: the multi-rank tests run under mpirun on this machine, and again
/// on the simulated cluster (one rank per network namespace, each a machine of its own to MPI).
public enum MPITopology {
    /// True when there are several ranks and all of them share this machine's memory (then the
    /// dense gradients must go through the node's shared memory). Collective over `world`.
    public static func everyRankOnOneNode(_ world: Communicator) throws -> Bool {
        let node = try world.splitShared()
        let smallest = try world.allReduce(Int64(node.size), op: .min)
        try node.close()
        return world.size > 1 && smallest == Int64(world.size)
    }
}
