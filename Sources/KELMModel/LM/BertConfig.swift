/// The architecture of the BERT language model (DESIGN §2): post-LayerNorm, erf GELU,
/// learned absolute positions, token-type embeddings, no pooler.
public struct BertConfig: Equatable, Sendable, Codable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var numLayers: Int
    public var numHeads: Int
    public var ffnSize: Int
    public var maxPositions: Int
    public var typeVocabSize: Int
    public var padTokenId: Int
    public var layerNormEps: Float
    /// Dropout on embeddings, attention output and FFN output.
    public var hiddenDropout: Float
    /// Dropout on attention probabilities.
    public var attentionDropout: Float

    public init(vocabSize: Int, hiddenSize: Int, numLayers: Int, numHeads: Int, ffnSize: Int,
                maxPositions: Int = 512, typeVocabSize: Int = 2, padTokenId: Int = 0,
                layerNormEps: Float = 1e-12, hiddenDropout: Float = 0.1, attentionDropout: Float = 0.1) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numLayers = numLayers
        self.numHeads = numHeads
        self.ffnSize = ffnSize
        self.maxPositions = maxPositions
        self.typeVocabSize = typeVocabSize
        self.padTokenId = padTokenId
        self.layerNormEps = layerNormEps
        self.hiddenDropout = hiddenDropout
        self.attentionDropout = attentionDropout
    }

    /// MiniLM-L6-H384 (the pretrained model of DESIGN §8).
    public static let miniLM = BertConfig(vocabSize: 30522, hiddenSize: 384, numLayers: 6, numHeads: 12, ffnSize: 1536)

    public var headDim: Int { hiddenSize / numHeads }

    /// The same architecture with every dropout rate 0 (benchmarks and references).
    public var withoutDropout: BertConfig {
        var c = self
        c.hiddenDropout = 0
        c.attentionDropout = 0
        return c
    }
}

/// Where the MLM head computes logits: at masked positions only (training, DESIGN §3),
/// or at every position as `BertForMaskedLM` does.
public enum LogitPositions: Sendable {
    case masked
    case all
}

/// A model that cannot be built as asked.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case invalidArchitecture(String)
    case capacityExceeded(String)

    public var description: String {
        switch self {
        case .invalidArchitecture(let m): return "invalid model architecture: \(m)"
        case .capacityExceeded(let m): return "batch exceeds the model's capacity: \(m)"
        }
    }
}

extension BertConfig {
    /// Throws `ModelError.invalidArchitecture` naming the first inconsistent value.
    public func validate(maxTokens: Int) throws {
        func fail(_ m: String) throws { throw ModelError.invalidArchitecture(m) }
        if vocabSize < 1 || hiddenSize < 1 || numLayers < 0 || numHeads < 1 || ffnSize < 1 { try fail("sizes must be positive") }
        if hiddenSize % numHeads != 0 { try fail("hidden size \(hiddenSize) is not a multiple of the head count \(numHeads)") }
        if padTokenId < 0 || padTokenId >= vocabSize { try fail("pad token id \(padTokenId) outside the vocabulary of \(vocabSize)") }
        if maxTokens < 1 || maxTokens > maxPositions { try fail("\(maxTokens) tokens per segment, but \(maxPositions) positions") }
        if !(0..<1).contains(hiddenDropout) || !(0..<1).contains(attentionDropout) { try fail("dropout must be in [0, 1)") }
    }
}
