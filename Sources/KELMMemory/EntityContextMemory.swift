import KELMModel
import KELMNumerics

/// The JAKET entity-context memory M ∈ R^{|E| × d} (DESIGN §4): the GNN's input features,
/// recomputed from entity descriptions by LM1; no gradient flows into it.
public final class EntityContextMemory {
    public let entityCount: Int
    public let width: Int
    /// [|E|, d]
    public let values: FlatBuffer

    public init(entityCount: Int, width: Int) {
        self.entityCount = entityCount
        self.width = width
        values = FlatBuffer(count: entityCount * width)
    }

    /// The contiguous block of `entities` that `rank` of `size` encodes: the first
    /// |E| mod size ranks take one more.
    public static func block(of count: Int, rank: Int, size: Int) -> Range<Int> {
        let base = count / size, extra = count % size
        let start = rank * base + min(rank, extra)
        return start..<(start + base + (rank < extra ? 1 : 0))
    }

    /// Step 0: M = M_new for every entity. Each rank encodes its block; the blocks are
    /// all-gathered (`MPI_Allgatherv`) so every rank holds the same M.
    public func fill(encoder: DescriptionEncoder, source: DescriptionSource, params: UnsafeMutablePointer<Float>,
                     collective: Collective) throws {
        let mine = Self.block(of: entityCount, rank: collective.rank, size: collective.size)
        let local = FlatBuffer(count: mine.count * width)
        try encoder.encode(entities: Array(mine)[...], source: source, params: params, output: local.pointer)
        let all = try collective.allGatherV(UnsafeBufferPointer(start: local.pointer, count: local.count))
        precondition(all.count == values.count, "the gathered blocks must cover every entity")
        all.withUnsafeBufferPointer { values.pointer.update(from: $0.baseAddress!, count: values.count) }
    }
}
