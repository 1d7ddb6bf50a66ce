import Foundation
import KELMConfig
import KELMData

/// Errors choosing the training data.
public enum DataSourceError: Error, CustomStringConvertible {
    case missingPath
    case vocabularyMismatch(path: String, dataset: Int, model: Int)
    case tokensMismatch(path: String, dataset: Int, model: Int)
    case vocabularyDigestMismatch(vocabulary: String, digest: String, dataset: String)

    public var description: String {
        switch self {
        case .missingPath:
            return "config key 'data.path' is not set: give a dataset written by `kelm-dist prepare` (--set data.path=DIR), or 'synthetic'"
        case let .vocabularyMismatch(path, dataset, model):
            return "data.path \(path): the dataset's vocabulary has \(dataset) tokens, but model.vocab_size is \(model) (prepare with the model's vocab.txt, or set model.vocab_size)"
        case let .vocabularyDigestMismatch(vocabulary, digest, dataset):
            return "\(vocabulary): the pretrained LM's vocabulary (digest \(digest)) is not the one the dataset was prepared with (digest \(dataset)); prepare the data with this vocab.txt"
        case let .tokensMismatch(path, dataset, model):
            return "data.path \(path): the dataset was prepared with \(dataset) tokens per segment, more than model.max_tokens \(model)"
        }
    }
}

extension KELMConfig.MemorySection.Anchor {
    /// The data module's name for this choice.
    public var descriptions: EntityDescriptions.Anchor { self == .name ? .name : .none }
}

extension KELMConfig {
    /// `data.path: synthetic` asks for a small corpus and KG generated deterministically by
    /// the program (for tests and smoke runs; no preparation needed).
    public static let syntheticDataPath = "synthetic"

    /// The training data `data.path` names.
    public func trainingData() throws -> TrainingData {
        guard let path = data.path else { throw DataSourceError.missingPath }
        if path == Self.syntheticDataPath {
            return SyntheticTrainingData(segments: 512, entities: 256, relations: 8, vocabSize: model.vocabSize,
                                         tokens: model.maxTokens, nodesPerSegment: model.maxNodes, seed: UInt64(data.seed))
        }
        let dataset = try DatasetTrainingData(path: path, maxNodes: model.maxNodes, seed: UInt64(data.seed),
                                              anchor: memory.anchor.descriptions)
        guard dataset.dataset.vocabularySize == model.vocabSize else {
            throw DataSourceError.vocabularyMismatch(path: path, dataset: dataset.dataset.vocabularySize, model: model.vocabSize)
        }
        guard dataset.dataset.maxTokens <= model.maxTokens else {
            throw DataSourceError.tokensMismatch(path: path, dataset: dataset.dataset.maxTokens, model: model.maxTokens)
        }
        return dataset
    }
}
