import Foundation
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMHDF5
import KELMModel
import KELMNumerics

/// A checkpoint opened and checked against its own configuration (DESIGN §7, §10): the root
/// attributes (format, version), the stored `config` (it must decode), and the parameters under
/// `/params` (exactly the tensors, with the shapes, of the architecture that configuration
/// describes). `inspect`, `export` and `train --resume` start here, so every one of them reports
/// a bad file the same way: a `CheckpointError` naming the file and the item.
///
/// This lives in KELMTraining, not KELMCheckpoint, because it needs the configuration types
/// (`KELMConfig`), which KELMCheckpoint cannot import.
public final class StoredCheckpoint {
    /// The checkpoint file (a run directory resolved to its `latest`).
    public let path: String
    public let file: HDF5File
    public let header: Checkpoint.Header
    /// The configuration stored in the checkpoint.
    public let config: KELMConfig
    /// R, the KG relations, read from the shape of `linkpred.relation.weight` (the config does
    /// not hold it; it comes from the dataset).
    public let numRelations: Int
    /// The architecture of the stored configuration.
    public let fusionConfig: FusionConfig
    /// The parameter table of that architecture (the stored parameters match it).
    public let table: ParameterTable

    /// Opens `path` (a file, or a run directory meaning its latest checkpoint) and checks it.
    public init(path given: String) throws {
        path = try Checkpoint.resolve(given)
        let (f, header) = try Checkpoint.open(path)
        file = f
        self.header = header
        do {
            config = try KELMConfig(json: header.configJSON)
        } catch {
            throw CheckpointError(file: path, item: "attribute config", "is not a valid configuration: \(error)")
        }
        let relation = Checkpoint.datasetPath("params", "linkpred.relation.weight")
        let stored = try Checkpoint.storedParameters(in: f)
        guard let shape = stored.first(where: { $0.name == "linkpred.relation.weight" })?.shape else {
            throw CheckpointError(file: path, item: relation, "missing (the number of KG relations is read from its shape)")
        }
        guard shape.count == 2, shape[0] >= 1 else {
            throw CheckpointError(file: path, item: relation, "has shape \(shape), expected [relations, gnn_hidden]")
        }
        numRelations = shape[0]
        fusionConfig = config.fusionConfig(numRelations: numRelations)
        let architecture = Self.describe(config, relations: numRelations)
        var t = ParameterTable()
        do {
            _ = try FusionModel.Parameters(&t, config: fusionConfig)
            try fusionConfig.validate(maxTokens: config.model.maxTokens)
        } catch {
            throw CheckpointError(file: path, item: "attribute config", "describes no valid model (\(architecture)): \(error)")
        }
        table = t
        try Checkpoint.checkParameters(in: f, expected: t, architecture: architecture)
    }

    /// Closes the file.
    public func close() throws { try Checkpoint.guarding(path) { try file.close() } }

    /// The architecture keys in words, for error messages.
    public static func describe(_ c: KELMConfig, relations: Int) -> String {
        let m = c.model
        return "hidden_size \(m.hiddenSize), num_layers \(m.numLayers), num_heads \(m.numHeads), ffn_size \(m.ffnSize), "
            + "vocab_size \(m.vocabSize), max_positions \(m.maxPositions), fusion_layers \(m.fusionLayers), "
            + "gnn_hidden \(m.gnnHidden), mint_hidden \(m.resolvedMintHidden), \(relations) relations"
    }

    /// Reads our parameter `name` (verifying its checksum).
    public func parameter(_ name: String) throws -> (values: [Float], shape: [Int]) {
        try Checkpoint.readTensor(Checkpoint.datasetPath("params", name), from: file)
    }
}
