import KELMModel
import KELMNumerics

/// TRELM path selection (DESIGN §5): which tensors are routed (`ParameterRole.isOnKnowledgePath`),
/// integrated-gradient attribution on the first `samples` samples of a step's global batch,
/// the per-sample scores gathered over the ranks and summed in global sample order (so the
/// selection does not depend on the number of ranks), top-k per layer, and the packed buffer
/// the selected neurons' gradients are reduced in (`paths.packed`). The routed AdamW updates
/// the selected slices.
public final class PathSelector {
    public let paths: KnowledgePaths
    public let optimizer: RoutedAdamW
    /// Where each layer's routed tensors live in the flat buffers.
    public let tensors: [RoutedAdamW.LayerTensors]
    let attribution: IntegratedGradients
    let collective: Collective
    let samples: Int
    let igSteps: Int
    let mode: IntegratedGradients.Mode
    /// Whether the FFN layers' backward follows the paths (attached) or computes full gradients.
    public private(set) var attached = false

    /// Whether the tensor `name` is routed when its group is: one of the FFN tensors a path
    /// selects neurons of.
    public static func isRouted(_ name: String) -> Bool { ParameterRole(name).isOnKnowledgePath }

    /// Paths over every FFN of `model`'s LM: ⌈`fraction` · d_ff⌉ neurons per layer, attributed
    /// on `samples` samples with `igSteps` integration steps.
    public init(model: FusionModel, fraction: Double, maxRows: Int, samples: Int, igSteps: Int,
                mode: IntegratedGradients.Mode, collective: Collective) {
        let c = model.config.bert
        paths = KnowledgePaths(layers: c.numLayers, ffnSize: c.ffnSize, hidden: c.hiddenSize, fraction: fraction, maxRows: maxRows)
        optimizer = RoutedAdamW(layers: c.numLayers, ffnSize: c.ffnSize)
        tensors = model.parameters.lm.layers.map { RoutedAdamW.LayerTensors($0) }
        attribution = IntegratedGradients(model: model)
        self.collective = collective
        self.samples = samples
        self.igSteps = igSteps
        self.mode = mode
    }

    /// Points the FFN layers' backward at the paths (`routed`), or back at full gradients.
    public func attach(_ routed: Bool, to layers: [BertLayer]) {
        guard routed != attached else { return }
        if routed {
            paths.attach(to: layers)
        } else {
            for layer in layers { layer.route = nil }
        }
        attached = routed
    }

    /// Attribution on this step's micro-batch (`text`, `graph`, `links`: this rank's first
    /// micro-batch of `microBatch` samples; `mentionMask` marks positions inside entity
    /// mentions), then the selection, at `step`. The target is the masked positions inside
    /// mentions among the attribution samples, or every masked position if there is none. The
    /// batch's labels are restored afterwards. Collective. Returns the new selection's checksum.
    @discardableResult
    public func select(text: TokenBatch, graph: GraphBatch, links: LinkBatch, mentionMask: UnsafePointer<Int32>,
                       memory: EntityRows, microBatch B: Int, step: Int) throws -> Int64 {
        let T = text.tokens
        let mine = max(0, min(B, samples - collective.rank * B))
        let saved = Array(UnsafeBufferPointer(start: text.labels.pointer, count: text.rows))
        var counts: [Int64] = [0, 0]
        for r in 0..<text.rows where r < mine * T && saved[r] >= 0 {
            counts[1] += 1
            if mentionMask[r] != 0 { counts[0] += 1 }
        }
        try collective.allReduceSum(&counts)
        let mentionsOnly = counts[0] > 0
        for r in 0..<text.rows {
            let keep = r < mine * T && saved[r] >= 0 && (!mentionsOnly || mentionMask[r] != 0)
            text.labels.pointer[r] = keep ? saved[r] : -100
        }
        let scores = attribution.attribute(text: text, graph: graph, links: links, memory: memory, samples: mine,
                                           globalCount: Int(mentionsOnly ? counts[0] : counts[1]), steps: igSteps, mode: mode)
        for r in 0..<text.rows { text.labels.pointer[r] = saved[r] }
        let all = try scores.withUnsafeBufferPointer { try collective.allGatherV($0) }
        let L = paths.layers, ff = paths.ffnSize
        var perLayer = [[Double]](repeating: [Double](repeating: 0, count: ff), count: L)
        for b in 0..<(all.count / (L * ff)) {
            for l in 0..<L { for j in 0..<ff { perLayer[l][j] += all[(b * L + l) * ff + j] } }
        }
        paths.select(scores: perLayer, step: step)
        return paths.checksum
    }

    /// One AdamW update of every selected neuron from the reduced `paths.packed`.
    public func update(params: FlatBuffer, moments: (expAvg: FlatBuffer, expAvgSq: FlatBuffer), learningRates: [Float],
                       hyper: AdamHyperparameters) {
        optimizer.update(paths: paths, tensors: tensors, params: params, expAvg: moments.expAvg, expAvgSq: moments.expAvgSq,
                         learningRates: learningRates, hyper: hyper)
    }
}
