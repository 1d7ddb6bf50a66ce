import KELMConfig
import KELMModel

extension KELMConfig.ModelSection {
    /// The BERT architecture these keys describe (when the model is not initialised from a
    /// checkpoint or a Hugging Face folder, whose own configuration then decides). `dropout`
    /// applies where BERT has it: embeddings, attention probabilities and outputs, FFN output.
    public var bertConfig: BertConfig {
        BertConfig(vocabSize: vocabSize, hiddenSize: hiddenSize, numLayers: numLayers, numHeads: numHeads,
                   ffnSize: ffnSize, maxPositions: maxPositions, typeVocabSize: typeVocabSize,
                   padTokenId: padTokenId, layerNormEps: Float(layerNormEps),
                   hiddenDropout: Float(dropout), attentionDropout: Float(dropout))
    }
}

extension KELMConfig {
    /// The fusion model these keys describe, for a KG with `numRelations` relations (R comes
    /// from the dataset, not the config).
    public func fusionConfig(numRelations: Int) -> FusionConfig {
        FusionConfig(bert: model.bertConfig, fusionLayers: model.fusionLayers, gnnHidden: model.gnnHidden,
                     gnnHeads: model.gnnHeads, mintHidden: model.resolvedMintHidden, numRelations: numRelations,
                     gnnDropout: Float(model.gnnDropout))
    }

    /// Sets the architecture keys to a pretrained BERT's (its dropout keeps the config's value).
    public mutating func adoptArchitecture(of bert: BertConfig) {
        model.hiddenSize = bert.hiddenSize
        model.numLayers = bert.numLayers
        model.numHeads = bert.numHeads
        model.ffnSize = bert.ffnSize
        model.vocabSize = bert.vocabSize
        model.maxPositions = bert.maxPositions
        model.typeVocabSize = bert.typeVocabSize
        model.padTokenId = bert.padTokenId
        model.layerNormEps = Double(bert.layerNormEps)
    }
}

extension KELMConfig.MemorySection.DType {
    /// The memory's element type.
    public var storage: EntityMemoryDType { self == .float32 ? .float32 : .float16 }
}
