import KELMNumerics

/// The element type of the entity memory M (`memory.dtype`, DESIGN §4).
public enum EntityMemoryDType: String, Sendable, CaseIterable {
    /// IEEE single precision.
    case float32
    /// IEEE half precision (Swift `Float16`): half the bytes; rows are widened to float32 where
    /// they are read, updates are computed in float32 and rounded to nearest (ties to even).
    case float16

    /// Bytes of one stored value.
    public var byteWidth: Int { self == .float32 ? MemoryLayout<Float>.stride : MemoryLayout<Float16>.stride }
}

/// Read access to M, [|E|, d] row-major, stored as float32 or float16: what the GNN's input
/// gather (`gnn.node_in`) reads, one row per entity node, always as float32.
public struct EntityRows {
    public enum Values {
        case float32(UnsafePointer<Float>)
        case float16(UnsafePointer<Float16>)
    }

    public let values: Values
    /// d, the floats of one row.
    public let width: Int

    public init(_ values: UnsafePointer<Float>, width: Int) {
        self.values = .float32(values)
        self.width = width
    }

    public init(_ values: UnsafePointer<Float16>, width: Int) {
        self.values = .float16(values)
        self.width = width
    }

    public var dtype: EntityMemoryDType {
        switch values {
        case .float32: return .float32
        case .float16: return .float16
        }
    }

    /// Writes row `entity` into `output` (d floats), widened to float32 (exact).
    @inline(__always)
    public func copy(row entity: Int, into output: UnsafeMutablePointer<Float>) {
        switch values {
        case .float32(let p):
            output.update(from: p + entity * width, count: width)
        case .float16(let p):
            let row = p + entity * width
            for c in 0..<width { output[c] = Float(row[c]) }
        }
    }

    /// Element `column` of row `entity`, as float32.
    public func value(row entity: Int, column: Int) -> Float {
        switch values {
        case .float32(let p): return p[entity * width + column]
        case .float16(let p): return Float(p[entity * width + column])
        }
    }
}

/// The storage of M: an owned buffer, or a view of memory shared by the ranks of a node, of
/// float32 or float16 values. Writes go through float32: rows are rounded to nearest when stored
/// as float16, so every rank that stores the same float32 rows holds bit-identical values.
public enum EntityMemoryStorage {
    case float32(FlatBuffer)
    case float16(AlignedBuffer<Float16>)

    /// An owned, zeroed buffer of `count` values.
    public init(dtype: EntityMemoryDType, count: Int) {
        switch dtype {
        case .float32: self = .float32(FlatBuffer(count: count))
        case .float16: self = .float16(AlignedBuffer<Float16>(count: count))
        }
    }

    /// A view of `count` values of `dtype` at `external` (e.g. an MPI shared-memory window),
    /// which must outlive the storage and hold `count · dtype.byteWidth` bytes.
    public init(dtype: EntityMemoryDType, external: UnsafeMutableRawPointer, count: Int) {
        switch dtype {
        case .float32:
            self = .float32(FlatBuffer(external: external.bindMemory(to: Float.self, capacity: count), count: count))
        case .float16:
            self = .float16(AlignedBuffer<Float16>(external: external.bindMemory(to: Float16.self, capacity: count), count: count))
        }
    }

    public var dtype: EntityMemoryDType {
        switch self {
        case .float32: return .float32
        case .float16: return .float16
        }
    }

    /// The number of stored values (|E| · d).
    public var count: Int {
        switch self {
        case .float32(let b): return b.count
        case .float16(let b): return b.count
        }
    }

    /// The stored bytes.
    public var byteCount: Int { count * dtype.byteWidth }

    /// False for a view of memory owned elsewhere.
    public var ownsMemory: Bool {
        switch self {
        case .float32(let b): return b.ownsMemory
        case .float16(let b): return b.ownsMemory
        }
    }

    /// The raw stored bytes (little-endian values), e.g. for comparing copies bit for bit.
    public var bytes: UnsafeRawBufferPointer {
        switch self {
        case .float32(let b): return UnsafeRawBufferPointer(start: b.pointer, count: b.count * 4)
        case .float16(let b): return UnsafeRawBufferPointer(start: b.pointer, count: b.count * 2)
        }
    }

    /// Read access to rows of `width` values.
    public func rows(width: Int) -> EntityRows {
        switch self {
        case .float32(let b): return EntityRows(UnsafePointer(b.pointer), width: width)
        case .float16(let b): return EntityRows(UnsafePointer(b.pointer), width: width)
        }
    }

    /// Stores `values[i]` at `start + i` for i < `count`, rounded to nearest when float16.
    public func store(_ values: UnsafePointer<Float>, at start: Int, count: Int) {
        precondition(start >= 0 && start + count <= self.count, "EntityMemoryStorage.store out of range")
        switch self {
        case .float32(let b): (b.pointer + start).update(from: values, count: count)
        case .float16(let b):
            let out = b.pointer + start
            for i in 0..<count { out[i] = Float16(values[i]) }
        }
    }

    /// The momentum update of one row: v ← keep·v + take·fresh, computed in float32 (from the
    /// widened stored value) and rounded to nearest on store when float16.
    public func blend(row start: Int, width: Int, keep: Float, take: Float, fresh: UnsafePointer<Float>) {
        precondition(start >= 0 && start + width <= count, "EntityMemoryStorage.blend out of range")
        switch self {
        case .float32(let b):
            let row = b.pointer + start
            for c in 0..<width { row[c] = keep * row[c] + take * fresh[c] }
        case .float16(let b):
            let row = b.pointer + start
            for c in 0..<width { row[c] = Float16(keep * Float(row[c]) + take * fresh[c]) }
        }
    }

    /// All values widened to float32 (for checkpoints of another dtype, tests and dumps; not
    /// for the training loop).
    public func floats() -> [Float] {
        switch self {
        case .float32(let b): return b.toArray()
        case .float16(let b): return b.buffer.map { Float($0) }
        }
    }
}
