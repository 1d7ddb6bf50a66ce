/// How a new parameter is initialised (DESIGN §2: weights N(0, 0.02²), biases 0,
/// LayerNorm weight 1 and bias 0).
public enum ParameterInit: Equatable, Sendable {
    case normal(std: Float)
    case zeros
    case ones
}

/// A parameter's place in the flat buffers: element offset and element count.
/// `base + ref.offset` is the tensor, in the parameter, gradient and moment buffers alike.
public struct ParameterRef: Equatable, Sendable {
    public let offset: Int
    public let count: Int

    public init(offset: Int, count: Int) {
        self.offset = offset
        self.count = count
    }

    @inlinable
    public func pointer(in base: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        base + offset
    }

    /// The gradient pointer, or nil when gradients are not computed (a frozen group).
    @inlinable
    public func gradient(in base: UnsafeMutablePointer<Float>?) -> UnsafeMutablePointer<Float>? {
        base.map { $0 + offset }
    }
}

/// One named tensor of the model: its reference name (as in checkpoints and PyTorch),
/// PyTorch shape, place in the flat buffer, initialisation and whether AdamW decays it.
public struct ParameterEntry: Equatable, Sendable {
    public let name: String
    public let shape: [Int]
    public let ref: ParameterRef
    public let initialization: ParameterInit
    /// False for biases, LayerNorm parameters and `linkpred.relation` (DESIGN §5).
    public let weightDecay: Bool

    public var offset: Int { ref.offset }
    public var count: Int { ref.count }
}

/// Errors in building or looking up the parameter table.
public enum ParameterTableError: Error, CustomStringConvertible, Equatable {
    case duplicateName(String)
    case unknownName(String)
    case badShape(name: String, shape: [Int])

    public var description: String {
        switch self {
        case .duplicateName(let n): return "parameter '\(n)' is declared twice"
        case .unknownName(let n): return "no parameter named '\(n)'"
        case .badShape(let n, let s): return "parameter '\(n)' has an invalid shape \(s)"
        }
    }
}

/// The one table of the model's parameters. Parameters, gradients and Adam moments are flat
/// buffers of `count` floats laid out by it; the optimizer, the all-reduce buckets and the
/// checkpoint all iterate over `entries`.
public struct ParameterTable: Equatable, Sendable {
    public private(set) var entries: [ParameterEntry] = []
    public private(set) var count: Int = 0
    private var indexByName: [String: Int] = [:]

    public init() {}

    /// Appends a tensor at the end of the flat layout and returns its reference.
    /// Tensors declared one after another are contiguous (the model relies on this to run
    /// the query, key and value projections as one matrix product).
    @discardableResult
    public mutating func add(_ name: String, shape: [Int], initialization: ParameterInit,
                             weightDecay: Bool) throws -> ParameterRef {
        guard indexByName[name] == nil else { throw ParameterTableError.duplicateName(name) }
        guard !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw ParameterTableError.badShape(name: name, shape: shape)
        }
        let n = shape.reduce(1, *)
        let ref = ParameterRef(offset: count, count: n)
        indexByName[name] = entries.count
        entries.append(ParameterEntry(name: name, shape: shape, ref: ref,
                                      initialization: initialization, weightDecay: weightDecay))
        count += n
        return ref
    }

    /// A weight matrix or embedding table: N(0, std²), decayed.
    @discardableResult
    public mutating func addWeight(_ name: String, shape: [Int], std: Float = 0.02) throws -> ParameterRef {
        try add(name, shape: shape, initialization: .normal(std: std), weightDecay: true)
    }

    /// A bias: zeros, not decayed.
    @discardableResult
    public mutating func addBias(_ name: String, count: Int) throws -> ParameterRef {
        try add(name, shape: [count], initialization: .zeros, weightDecay: false)
    }

    /// A LayerNorm's weight (ones) and bias (zeros), neither decayed, as `<prefix>.weight`, `<prefix>.bias`.
    @discardableResult
    public mutating func addLayerNorm(_ prefix: String, width: Int) throws -> (weight: ParameterRef, bias: ParameterRef) {
        let w = try add(prefix + ".weight", shape: [width], initialization: .ones, weightDecay: false)
        let b = try add(prefix + ".bias", shape: [width], initialization: .zeros, weightDecay: false)
        return (w, b)
    }

    public func entry(named name: String) throws -> ParameterEntry {
        guard let i = indexByName[name] else { throw ParameterTableError.unknownName(name) }
        return entries[i]
    }

    public func contains(_ name: String) -> Bool { indexByName[name] != nil }

    /// A stable 64-bit digest of the layout (names, shapes, offsets), so ranks can check
    /// they build the same model.
    public var layoutDigest: UInt64 {
        var h = FNV1a64.offsetBasis
        func mix(_ bytes: some Sequence<UInt8>) { FNV1a64.mix(&h, bytes) }
        for e in entries {
            mix(e.name.utf8)
            mix([0])
            for d in e.shape { withUnsafeBytes(of: Int64(d).littleEndian) { mix($0) } }
            withUnsafeBytes(of: Int64(e.offset).littleEndian) { mix($0) }
        }
        return h
    }

    public static func == (a: ParameterTable, b: ParameterTable) -> Bool {
        a.entries == b.entries && a.count == b.count
    }
}

/// The model's parameters and their gradients, both laid out by one table.
public final class ParameterStore {
    public let table: ParameterTable
    public let values: FlatBuffer
    /// The gradients, in the values' layout. Backward is handed this pointer at each call (no
    /// layer keeps it), so it can be moved once before training: `useGradientStorage`.
    public private(set) var grads: FlatBuffer

    public init(table: ParameterTable) {
        self.table = table
        values = FlatBuffer(count: table.count)
        grads = FlatBuffer(count: table.count)
    }

    /// Initialises every tensor as its entry says, from a counter-based stream keyed by the
    /// seed and the tensor's index, so the result does not depend on anything else.
    public func initialize(seed: UInt64) {
        for (i, e) in table.entries.enumerated() {
            let p = e.ref.pointer(in: values.pointer)
            switch e.initialization {
            case .zeros: p.update(repeating: 0, count: e.count)
            case .ones: p.update(repeating: 1, count: e.count)
            case .normal(let std):
                var rng = RandomStream(RandomKey(seed: seed, purpose: .parameterInit, stream: UInt32(i)))
                for j in 0..<e.count { p[j] = std * rng.nextNormal() }
            }
        }
    }

    /// The tensor's values as a buffer (a view, no copy).
    public func values(_ name: String) throws -> UnsafeMutableBufferPointer<Float> {
        let e = try table.entry(named: name)
        return UnsafeMutableBufferPointer(start: e.ref.pointer(in: values.pointer), count: e.count)
    }

    /// The tensor's gradient as a buffer (a view, no copy).
    public func grads(_ name: String) throws -> UnsafeMutableBufferPointer<Float> {
        let e = try table.entry(named: name)
        return UnsafeMutableBufferPointer(start: e.ref.pointer(in: grads.pointer), count: e.count)
    }

    public func zeroGrads() { grads.zero() }

    /// Keeps the gradients in `storage` from now on (e.g. a node's shared-memory window), zeroed.
    public func useGradientStorage(_ storage: FlatBuffer) {
        precondition(storage.count == table.count, "ParameterStore: gradient storage of \(storage.count) floats for \(table.count) parameters")
        grads = storage
        grads.zero()
    }
}
