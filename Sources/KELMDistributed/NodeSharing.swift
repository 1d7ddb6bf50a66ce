/// What the ranks of one node can share (DESIGN §4, §5): made by the job's collective over MPI-3
/// shared-memory windows (`MPICollective`), handed to the trainer, which never sees MPI. Both
/// are collective calls, and both give nil where there is nothing to share.
public protocol NodeSharing: AnyObject {
    /// `bytes` bytes shared by the ranks of this node (one writes, all read): nil when the node
    /// has one rank.
    func sharedMemory(bytes: Int) throws -> NodeSharedMemory?
    /// Gradient buffers of `count` floats summed through shared memory in the buckets of each of
    /// `plans`: nil unless every rank of the job runs on this node, or `hierarchy` allows the
    /// job's nodes (then the buckets also cross the nodes), and /dev/shm has room.
    func sharedGradients(count: Int, plans: [[Range<Int>]], hierarchy: NodeSharedGradients.Hierarchy) throws -> NodeSharedGradients?
}
