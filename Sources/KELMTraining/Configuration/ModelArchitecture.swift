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
