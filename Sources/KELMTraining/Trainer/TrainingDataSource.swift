import Foundation

/// Errors choosing the training data.
public enum DataSourceError: Error, CustomStringConvertible {
    case missingPath

    public var description: String {
        switch self {
        case .missingPath:
            return "config key 'data.path' is not set: give a dataset written by `kelm-dist prepare` (--set data.path=DIR), or 'synthetic'"
        }
    }
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
        return try DatasetTrainingData(path: path, maxNodes: model.maxNodes, seed: UInt64(data.seed))
    }
}
