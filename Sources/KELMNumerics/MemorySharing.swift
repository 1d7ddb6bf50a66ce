/// How the ranks of a node share one copy of a buffer (the entity memory M, DESIGN §4): one
/// rank writes, the others wait for it before reading. Implemented over an MPI-3 shared-memory
/// window by KELMDistributed's `NodeSharedMemory`; the memory sees only this protocol.
public protocol MemorySharing: AnyObject {
    /// True on the one rank of the node that writes.
    var isWriter: Bool { get }
    /// Returns when the writer's last writes are visible to every rank of the node.
    func synchronize() throws
}
