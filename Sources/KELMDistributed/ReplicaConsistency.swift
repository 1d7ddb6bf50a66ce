import KELMNumerics

/// The replicas disagree: every rank must run the same build, configuration and data, and
/// hold the same parameters after every step (DESIGN §5).
public enum ReplicaError: Error, Equatable, CustomStringConvertible {
    /// Something every rank must agree on (the parameter table, the configuration, the
    /// knowledge-path selection) differs on `rank`.
    case differs(rank: Int, what: String)
    /// Parameter `parameter` differs on `rank` after `step` steps.
    case diverged(step: Int, parameter: String, rank: Int)

    public var description: String {
        switch self {
        case let .differs(rank, what):
            return "rank \(rank) differs from rank 0: \(what) (every rank must run the same build, configuration and data)"
        case let .diverged(step, parameter, rank):
            return "step \(step): the replicas have diverged: parameter \(parameter) on rank \(rank) differs from rank 0"
        }
    }
}

/// Checks that the ranks agree, by all-gathering digests (DESIGN §5: consistency checks).
public enum ReplicaConsistency {
    /// Throws `differs` naming the first rank whose `values` differ from rank 0's, and `what[i]`
    /// for the first differing value.
    public static func requireSame(_ values: [Int64], what: [String], collective: Collective) throws {
        let all = try values.withUnsafeBufferPointer { try collective.allGatherV($0) }
        let n = values.count
        for r in 0..<collective.size {
            for i in 0..<n where all[r * n + i] != all[i] { throw ReplicaError.differs(rank: r, what: what[i]) }
        }
    }

    /// A 64-bit digest (FNV-1a over the 32-bit words of its floats) of each parameter tensor.
    public static func parameterDigests(_ store: ParameterStore) -> [Int64] {
        store.table.entries.map { e in
            let bits = UnsafeRawPointer(e.ref.pointer(in: store.values.pointer)).assumingMemoryBound(to: UInt32.self)
            return Int64(bitPattern: FNV1a64.hash(words: UnsafeBufferPointer(start: bits, count: e.count)))
        }
    }

    /// Compares every rank's parameter digests with rank 0's; throws `diverged` naming the first
    /// parameter (in table order) that differs.
    public static func requireSameParameters(_ store: ParameterStore, step: Int, collective: Collective) throws {
        let mine = parameterDigests(store)
        let all = try mine.withUnsafeBufferPointer { try collective.allGatherV($0) }
        let n = mine.count
        for r in 1..<max(1, collective.size) {
            for i in 0..<n where all[r * n + i] != all[i] {
                throw ReplicaError.diverged(step: step, parameter: store.table.entries[i].name, rank: r)
            }
        }
    }
}
