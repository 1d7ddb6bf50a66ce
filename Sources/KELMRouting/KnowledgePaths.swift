import KELMModel
import KELMNumerics

/// The TRELM knowledge paths of every routed FFN (DESIGN §5): per layer the top ⌈ρ·d_ff⌉
/// intermediate neurons by attribution score, and the packed buffer their weight gradients
/// are reduced in (one contiguous buffer, layers in order).
public final class KnowledgePaths {
    public let layers: Int
    public let ffnSize: Int
    public let hidden: Int
    /// Neurons selected per layer, k = ⌈ρ·d_ff⌉.
    public let perLayer: Int
    /// [layers, k] selected ids, ascending within a layer.
    public let selected: IndexBuffer
    /// The scores of the last selection, [layers][d_ff].
    public private(set) var scores: [[Double]]
    /// The step of the last attribution (−1: never).
    public var lastRefreshStep = -1
    /// The packed path gradients: per layer `FFNRoute.packedCount` floats.
    public let packed: FlatBuffer
    let scratch: FlatBuffer

    public init(layers: Int, ffnSize: Int, hidden: Int, fraction: Double, maxRows: Int) {
        self.layers = layers
        self.ffnSize = ffnSize
        self.hidden = hidden
        perLayer = min(ffnSize, max(1, Int((fraction * Double(ffnSize)).rounded(.up))))
        selected = IndexBuffer(count: layers * perLayer)
        scores = Array(repeating: Array(repeating: 0, count: ffnSize), count: layers)
        packed = FlatBuffer(count: layers * FFNRoute.packedCount(selected: perLayer, hidden: hidden))
        scratch = FlatBuffer(count: maxRows * perLayer)
        for l in 0..<layers { for i in 0..<perLayer { selected.pointer[l * perLayer + i] = Int32(i) } }
    }

    public var packedPerLayer: Int { FFNRoute.packedCount(selected: perLayer, hidden: hidden) }

    /// Layer `l`'s selected neurons.
    public func selection(_ l: Int) -> UnsafeBufferPointer<Int32> {
        UnsafeBufferPointer(start: selected.pointer + l * perLayer, count: perLayer)
    }

    /// The top `k` of `scores`, ties to the lower index, in ascending id order.
    public static func top(_ k: Int, of scores: [Double]) -> [Int32] {
        let order = scores.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : $0 < $1 }
        return order.prefix(k).map { Int32($0) }.sorted()
    }

    /// Selects every layer's paths from `scores` ([layers][d_ff]).
    public func select(scores: [[Double]], step: Int) {
        precondition(scores.count == layers && scores.allSatisfy { $0.count == ffnSize }, "one score per neuron and layer")
        self.scores = scores
        for l in 0..<layers {
            let ids = Self.top(perLayer, of: scores[l])
            for (i, id) in ids.enumerated() { selected.pointer[l * perLayer + i] = id }
        }
        lastRefreshStep = step
    }

    /// Sets the selection directly (checkpoint restore).
    public func setSelection(_ ids: [[Int32]], scores: [[Double]], step: Int) {
        precondition(ids.count == layers && ids.allSatisfy { $0.count == perLayer }, "k ids per layer")
        for l in 0..<layers { for i in 0..<perLayer { selected.pointer[l * perLayer + i] = ids[l][i] } }
        self.scores = scores
        lastRefreshStep = step
    }

    /// A digest of the selection, for checking that every rank selected the same neurons.
    public var checksum: Int64 {
        let words = UnsafeRawPointer(selected.pointer).assumingMemoryBound(to: UInt32.self)
        return Int64(bitPattern: FNV1a64.hash(words: UnsafeBufferPointer(start: words, count: selected.count)))
    }

    /// Points every routed layer's backward at its selection and its part of `packed`.
    public func attach(to lmLayers: [BertLayer]) {
        for (l, layer) in lmLayers.enumerated() where l < layers {
            layer.route = FFNRoute(selected: selected.pointer + l * perLayer, count: perLayer,
                                   packed: packed.pointer + l * packedPerLayer, hidden: hidden, scratch: scratch.pointer)
        }
    }
}
