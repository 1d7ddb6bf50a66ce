import KELMNumerics
import KELMMPI

/// One copy of the entity memory per node (DESIGN §4): an MPI-3 shared-memory window over the
/// node's communicator (`MPI_Comm_split_type`, `MPI_Win_allocate_shared`); the node's rank 0
/// writes refreshed rows, every rank reads them after a node barrier.
public final class NodeSharedMemory: MemorySharing {
    public let node: Communicator
    public let window: SharedMemoryWindow

    /// A window of `bytes` bytes (M at its `memory.dtype`: |E| · d · 4 for float32, · 2 for
    /// float16). Collective over `world`. Returns nil when this node has one rank only (nothing to share).
    public static func make(world: Communicator, bytes: Int) throws -> NodeSharedMemory? {
        let node = try world.splitShared()
        guard node.size > 1 else {
            try node.close()
            return nil
        }
        return NodeSharedMemory(node: node, window: try SharedMemoryWindow(byteCount: bytes, node: node))
    }

    init(node: Communicator, window: SharedMemoryWindow) {
        self.node = node
        self.window = window
    }

    /// The shared bytes (the memory binds them to its element type).
    public var storage: UnsafeMutableRawPointer { window.base }
    public var isWriter: Bool { node.rank == 0 }

    /// A node barrier: the writer's stores precede it, the readers' loads follow it (on x86's
    /// total store order a barrier suffices; MPI's unified memory model for shared windows).
    public func synchronize() throws { try node.barrier() }
}
