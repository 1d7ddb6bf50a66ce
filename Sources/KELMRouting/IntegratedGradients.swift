import KELMModel
import KELMNumerics

/// Integrated-gradient attribution of the FFN intermediate neurons (Dai et al.'s knowledge
/// neurons, DESIGN §5): the post-GELU activation v of the routed layers is scaled by
/// α_k = k/m, k = 1…m — all layers at once (`joint`, m passes) or one layer at a time
/// (`perLayer`, L·m passes) — and score_j = Σ_positions v_j · (1/m) Σ_k ∂P/∂v_j |α_k, where P is
/// the mean log-probability of the correct tokens at the labelled positions. Only activation
/// gradients are computed. Scores are kept per sample, in float64.
public final class IntegratedGradients: ActivationGradientSink {
    public enum Mode: Sendable { case joint, perLayer }

    public let model: FusionModel
    public let layers: Int
    public let ffnSize: Int
    let saved: [FlatBuffer]
    /// [samples, layers, d_ff] scores of the last `attribute`.
    public private(set) var scores: [Double] = []
    private var samples = 0, tokens = 0, steps = 1

    public init(model: FusionModel) {
        self.model = model
        layers = model.config.bert.numLayers
        ffnSize = model.config.bert.ffnSize
        saved = (0..<layers).map { _ in FlatBuffer(count: model.maxBatch * model.maxTokens * model.config.bert.ffnSize) }
    }

    /// Attribution on the first `samples` segments of `text` (its other segments must carry no
    /// labels). `globalCount` is the number of labelled positions over every rank's
    /// attribution samples, so that P is the global mean. Returns [samples, layers, d_ff].
    public func attribute(text: TokenBatch, graph: GraphBatch, links: LinkBatch, memory: UnsafePointer<Float>,
                          samples: Int, globalCount: Int, steps m: Int, mode: Mode) -> [Double] {
        attribute(text: text, graph: graph, links: links, memory: EntityRows(memory, width: model.config.bert.hiddenSize),
                  samples: samples, globalCount: globalCount, steps: m, mode: mode)
    }

    /// Attribution as above, with M stored as float32 or float16.
    public func attribute(text: TokenBatch, graph: GraphBatch, links: LinkBatch, memory: EntityRows,
                          samples: Int, globalCount: Int, steps m: Int, mode: Mode) -> [Double] {
        self.samples = samples
        tokens = text.tokens
        steps = m
        scores = [Double](repeating: 0, count: samples * layers * ffnSize)
        guard samples > 0, globalCount > 0 else { return scores }
        let rows = text.rows, ff = ffnSize
        // the activations of an ordinary forward
        _ = model.forward(text: text, graph: graph, links: links, memory: memory, mode: .inference)
        for l in 0..<layers { saved[l].pointer.update(from: model.layers[l].interAct.pointer, count: rows * ff) }
        // P = (1/C) Σ log p = −(1/C) Σ CE: the gradient of −lossSum/C
        let norm = LossNormalization(mlmCount: globalCount, lpCount: 1, mlmWeight: -1, lpWeight: 0)
        let none = GradientSinks(embeddings: nil, attention: nil, ffn: nil, heads: nil, gnn: nil, mint: nil)
        let groups: [[Int]] = mode == .joint ? [Array(0..<layers)] : (0..<layers).map { [$0] }
        for group in groups {
            for k in 1...m {
                let alpha = Float(k) / Float(m)
                for l in group {
                    model.layers[l].activationOverride = ActivationOverride(values: saved[l].pointer, alpha: alpha, gradientSink: self)
                }
                _ = model.forward(text: text, graph: graph, links: links, memory: memory, mode: .inference)
                model.backward(text: text, graph: graph, links: links, normalization: norm, sinks: none)
            }
            for l in group { model.layers[l].activationOverride = nil }
        }
        return scores
    }

    /// score[b, layer, j] += Σ_{rows of b} v[r, j] · ∂P/∂v[r, j] / m
    public func accumulate(gradient: UnsafePointer<Float>, rows: Int, layer: Int) {
        let ff = ffnSize, v = saved[layer].pointer, scale = 1 / Double(steps)
        for b in 0..<samples {
            let out = b * layers * ff + layer * ff
            for r in (b * tokens)..<((b + 1) * tokens) where r < rows {
                let vr = v + r * ff, gr = gradient + r * ff
                for j in 0..<ff { scores[out + j] += scale * Double(vr[j]) * Double(gr[j]) }
            }
        }
    }

    /// P of the current parameters with every layer in `overridden` scaled by `alpha` (0 or 1
    /// at the ends of the integration path), for checking completeness.
    public func objective(text: TokenBatch, graph: GraphBatch, links: LinkBatch, memory: UnsafePointer<Float>,
                          globalCount: Int, overridden: [Int], alpha: Float) -> Double {
        for l in overridden {
            model.layers[l].activationOverride = ActivationOverride(values: saved[l].pointer, alpha: alpha, gradientSink: self)
        }
        let out = model.forward(text: text, graph: graph, links: links, memory: memory, mode: .inference)
        for l in overridden { model.layers[l].activationOverride = nil }
        return -out.mlmLossSum / Double(globalCount)
    }
}
