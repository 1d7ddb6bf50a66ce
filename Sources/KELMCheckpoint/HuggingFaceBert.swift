import Foundation
import KELMModel
import KELMNumerics

/// Errors reading a Hugging Face BERT folder (`config.json` + `model.safetensors`).
public enum HuggingFaceImportError: Error, Equatable, CustomStringConvertible {
    case unreadableConfig(file: String, reason: String)
    case badConfigValue(file: String, key: String, expected: String)
    case unexpectedTensor(file: String, name: String)
    case missingTensor(file: String, name: String)
    case shapeMismatch(file: String, name: String, expected: [Int], found: [Int])
    case nonFinite(file: String, name: String, index: Int, value: Float)

    public var description: String {
        switch self {
        case let .unreadableConfig(f, r): return "\(f): cannot read the model configuration: \(r)"
        case let .badConfigValue(f, k, e): return "\(f): key '\(k)': expected \(e)"
        case let .unexpectedTensor(f, n): return "\(f): tensor '\(n)' is not part of a BERT masked LM"
        case let .missingTensor(f, n): return "\(f): tensor '\(n)' is missing"
        case let .shapeMismatch(f, n, e, s): return "\(f): tensor '\(n)' has shape \(s), expected \(e)"
        case let .nonFinite(f, n, i, v): return "\(f): tensor '\(n)' holds \(v) at element \(i); initial weights must be finite"
        }
    }
}

/// The one mapping between Hugging Face BERT names and ours (DESIGN §2, §7).
///
/// `lm.` + the `BertModel` name; `cls.predictions.transform.*` ↔ `mlm.transform.*`;
/// `cls.predictions.bias` ↔ `mlm.bias`. The `bert.` prefix of `BertForMaskedLM` is optional
/// on import. `pooler.*`, `position_ids`, the tied `cls.predictions.decoder.*` and the NSP
/// head are ignored.
public enum HuggingFaceBert {
    public enum Mapping: Equatable {
        case parameter(String)
        case ignored
    }

    /// Our name for a Hugging Face tensor name, `.ignored` for tensors we do not keep, nil for
    /// names that have no place in a BERT masked LM.
    public static func mapping(forHuggingFace name: String) -> Mapping? {
        var n = name
        if n.hasPrefix("bert.") { n.removeFirst(5) }
        // Original BERT checkpoints name LayerNorm parameters gamma/beta (transformers renames them on load).
        if n.hasSuffix("LayerNorm.gamma") { n = n.dropLast("gamma".count) + "weight" }
        if n.hasSuffix("LayerNorm.beta") { n = n.dropLast("beta".count) + "bias" }
        if n.hasPrefix("pooler.") || n == "embeddings.position_ids" || n.hasPrefix("cls.seq_relationship.")
            || n.hasPrefix("cls.predictions.decoder.") {
            return .ignored
        }
        if n.hasPrefix("embeddings.") || n.hasPrefix("encoder.layer.") { return .parameter("lm." + n) }
        if n.hasPrefix("cls.predictions.transform.") {
            return .parameter("mlm." + n.dropFirst("cls.predictions.".count))
        }
        if n == "cls.predictions.bias" { return .parameter("mlm.bias") }
        return nil
    }

    /// The Hugging Face name of one of our parameters (for `export --format hf`), with the
    /// `bert.` prefix that `BertForMaskedLM` uses; nil for parameters outside the LM and MLM head.
    public static func huggingFaceName(for name: String) -> String? {
        if name.hasPrefix("lm.") { return "bert." + name.dropFirst(3) }
        if name == "mlm.bias" { return "cls.predictions.bias" }
        if name.hasPrefix("mlm.transform.") { return "cls.predictions." + name.dropFirst(4) }
        return nil
    }

    /// Reads a Hugging Face `config.json` of a BERT model into our architecture description.
    public static func readConfig(_ url: URL) throws -> BertConfig {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw HuggingFaceImportError.unreadableConfig(file: url.path, reason: "\(error)")
        }
        return try parseConfig(data, file: url.path)
    }

    /// Parses the JSON of a Hugging Face BERT configuration; `file` names it in errors.
    public static func parseConfig(_ data: Data, file: String) throws -> BertConfig {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            throw HuggingFaceImportError.unreadableConfig(file: file, reason: "\(error)")
        }
        guard let json = object as? [String: Any] else {
            throw HuggingFaceImportError.unreadableConfig(file: file, reason: "the top level is not an object")
        }
        func int(_ key: String, default value: Int? = nil) throws -> Int {
            if let v = json[key] as? Int { return v }
            if json[key] == nil, let value { return value }
            throw HuggingFaceImportError.badConfigValue(file: file, key: key, expected: "an integer")
        }
        func float(_ key: String, default value: Float) throws -> Float {
            if json[key] == nil { return value }
            if let v = json[key] as? Double { return Float(v) }
            if let v = json[key] as? Int { return Float(v) }
            throw HuggingFaceImportError.badConfigValue(file: file, key: key, expected: "a number")
        }
        if let act = json["hidden_act"], (act as? String) != "gelu" {
            throw HuggingFaceImportError.badConfigValue(file: file, key: "hidden_act", expected: "\"gelu\" (the erf form)")
        }
        if let pe = json["position_embedding_type"], (pe as? String) != "absolute" {
            throw HuggingFaceImportError.badConfigValue(file: file, key: "position_embedding_type", expected: "\"absolute\"")
        }
        let c = BertConfig(
            vocabSize: try int("vocab_size"), hiddenSize: try int("hidden_size"),
            numLayers: try int("num_hidden_layers"), numHeads: try int("num_attention_heads"),
            ffnSize: try int("intermediate_size"), maxPositions: try int("max_position_embeddings", default: 512),
            typeVocabSize: try int("type_vocab_size", default: 2), padTokenId: try int("pad_token_id", default: 0),
            layerNormEps: try float("layer_norm_eps", default: 1e-12),
            hiddenDropout: try float("hidden_dropout_prob", default: 0.1),
            attentionDropout: try float("attention_probs_dropout_prob", default: 0.1))
        guard c.hiddenSize % c.numHeads == 0 else {
            throw HuggingFaceImportError.badConfigValue(file: file, key: "num_attention_heads", expected: "a divisor of hidden_size")
        }
        return c
    }

    /// What an import filled.
    public struct ImportReport: Equatable {
        public var loaded: [String] = []
        public var ignored: [String] = []
        /// Our parameters under `mlm.` that the file did not have (they keep their initial values).
        public var notInFile: [String] = []
    }

    /// Fills `lm.*` (all required) and `mlm.*` (where present) of `store` from the safetensors
    /// file of a Hugging Face BERT; every tensor's shape must match ours. Tensors of the file
    /// that are neither ours nor ignorable are errors.
    @discardableResult
    public static func loadWeights(from file: SafetensorsFile, into store: ParameterStore) throws -> ImportReport {
        var report = ImportReport()
        var filled = Set<String>()
        for hfName in file.names {
            guard let mapping = mapping(forHuggingFace: hfName) else {
                throw HuggingFaceImportError.unexpectedTensor(file: file.path, name: hfName)
            }
            guard case .parameter(let name) = mapping else {
                report.ignored.append(hfName)
                continue
            }
            guard store.table.contains(name) else {
                throw HuggingFaceImportError.unexpectedTensor(file: file.path, name: hfName)
            }
            let entry = try store.table.entry(named: name)
            let info = try file.info(hfName)
            guard info.shape == entry.shape else {
                throw HuggingFaceImportError.shapeMismatch(file: file.path, name: hfName, expected: entry.shape, found: info.shape)
            }
            let values = UnsafeMutableBufferPointer(start: entry.ref.pointer(in: store.values.pointer), count: entry.count)
            try file.read(hfName, into: values)
            if let i = StoredTensor.firstNonFinite(UnsafeBufferPointer(values)) {
                throw HuggingFaceImportError.nonFinite(file: file.path, name: hfName, index: i, value: values[i])
            }
            filled.insert(name)
            report.loaded.append(name)
        }
        let prefixed = file.names.contains { $0.hasPrefix("bert.") }
        for e in store.table.entries where !filled.contains(e.name) {
            if e.name.hasPrefix("lm.") {
                let expected = prefixed ? "bert." + e.name.dropFirst(3) : String(e.name.dropFirst(3))
                throw HuggingFaceImportError.missingTensor(file: file.path, name: expected)
            }
            if e.name.hasPrefix("mlm.") { report.notInFile.append(e.name) }
        }
        return report
    }

    /// Reads `config.json` and `model.safetensors` of a Hugging Face BERT folder.
    public static func open(directory: URL) throws -> (config: BertConfig, weights: SafetensorsFile) {
        let config = try readConfig(directory.appendingPathComponent("config.json"))
        let weights = try SafetensorsFile(url: directory.appendingPathComponent("model.safetensors"))
        return (config, weights)
    }
}
