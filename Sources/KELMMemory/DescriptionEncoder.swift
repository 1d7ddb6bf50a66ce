import KELMModel
import KELMNumerics

/// Where entity descriptions come from: `[CLS] description [SEP]` token ids (cut to the
/// configured length) and the (s, o) token span of the entity's name in it (DESIGN §4).
public protocol DescriptionSource: AnyObject {
    var entityCount: Int { get }
    /// Fills `tokens` with entity `e`'s description and returns its length and span.
    func description(of entity: Int, into tokens: UnsafeMutablePointer<Int32>, capacity: Int) throws
        -> (length: Int, start: Int, end: Int)
}

/// JAKET's LM1: the embeddings and the first L−K layers of the LM, dropout off, run over
/// entity descriptions. It shares the model's parameters (reads them from the store at each
/// call) and owns its own activation buffers, sized for `batch` descriptions of `tokens`.
public final class DescriptionEncoder {
    let config: BertConfig
    let embeddings: BertEmbeddings
    let layers: [BertLayer]
    let text: TokenBatch
    public let batch: Int, tokens: Int

    /// - Parameters:
    ///   - parameters: the LM's parameter references (of the model whose store will be passed).
    ///   - layerCount: L − K, the text-only layers.
    public init(parameters: BertMaskedLM.Parameters, config: BertConfig, layerCount: Int, batch: Int, tokens: Int) {
        var c = config
        c.hiddenDropout = 0
        c.attentionDropout = 0
        self.config = c
        self.batch = batch
        self.tokens = tokens
        embeddings = BertEmbeddings(parameters.embeddings, config: c, maxRows: batch * tokens)
        layers = (0..<layerCount).map { BertLayer(parameters.layers[$0], index: $0, config: c, maxBatch: batch, maxTokens: tokens) }
        text = TokenBatch(capacityBatch: batch, capacityTokens: tokens)
    }

    /// Encodes the descriptions of `entities` and writes M_new[e] = (Z_s + Z_o)/2 into
    /// `output` (row i for entities[i], width d). Descriptions are batched by length, each
    /// batch padded only to its longest description (no padding waste).
    public func encode(entities: ArraySlice<Int>, source: DescriptionSource, params: UnsafeMutablePointer<Float>,
                       output: UnsafeMutablePointer<Float>) throws {
        let d = config.hiddenSize
        let scratch = UnsafeMutablePointer<Int32>.allocate(capacity: tokens)
        defer { scratch.deallocate() }
        var lengths = [Int](repeating: 0, count: entities.count)
        for (i, e) in entities.enumerated() {
            lengths[i] = try source.description(of: e, into: scratch, capacity: tokens).length
        }
        let order = lengths.indices.sorted { lengths[$0] != lengths[$1] ? lengths[$0] < lengths[$1] : $0 < $1 }
        var spans = [(Int, Int)](repeating: (0, 0), count: batch)
        var k = 0
        while k < order.count {
            let count = min(batch, order.count - k)
            let T = lengths[order[k + count - 1]]
            text.reshape(batch: count, tokens: T)
            text.inputIds.pointer.update(repeating: Int32(config.padTokenId), count: count * T)
            text.attentionMask.pointer.update(repeating: 0, count: count * T)
            for b in 0..<count {
                let r = try source.description(of: entities[entities.startIndex + order[k + b]],
                                               into: text.inputIds.pointer + b * T, capacity: T)
                for t in 0..<r.length { text.attentionMask.pointer[b * T + t] = 1 }
                spans[b] = (r.start, r.end)
            }
            embeddings.forward(batch: text, params: params, mode: .inference)
            var x = UnsafePointer(embeddings.output.pointer)
            for layer in layers {
                layer.forward(x: x, batch: text, params: params, mode: .inference)
                x = UnsafePointer(layer.output.pointer)
            }
            for b in 0..<count {
                let zs = x + (b * T + spans[b].0) * d, zo = x + (b * T + spans[b].1) * d
                let out = output + order[k + b] * d
                for c in 0..<d { out[c] = 0.5 * (zs[c] + zo[c]) }
            }
            k += count
        }
    }
}
