import Foundation
import KELMFiles
import KELMHDF5
import KELMModel
import KELMNumerics

/// Errors of `export --format hf`.
public enum HuggingFaceExportError: Error, Equatable, CustomStringConvertible {
    /// The vocabulary does not have one token per row of the word embeddings.
    case vocabularySize(source: String, tokens: Int, expected: Int)
    /// A parameter of the BERT masked LM is not among the ones given (a checkpoint without it).
    case missingParameter(source: String, name: String)
    /// A parameter's shape differs from the architecture's.
    case shape(source: String, name: String, found: [Int], expected: [Int])
    /// The output folder could not be created or written.
    case output(path: String, reason: String)

    public var description: String {
        switch self {
        case let .vocabularySize(source, tokens, expected):
            return "vocabulary \(source): \(tokens) tokens, but the model's vocab_size is \(expected)"
        case let .missingParameter(source, name):
            return "\(source): parameter \(name) of the BERT masked LM is missing"
        case let .shape(source, name, found, expected):
            return "\(source): parameter \(name) has shape \(found), the architecture gives \(expected)"
        case let .output(path, reason):
            return "export to \(path): \(reason)"
        }
    }
}

/// `export --format hf` (DESIGN §7): a folder `transformers.BertForMaskedLM.from_pretrained`
/// loads with no missing or unexpected keys: `model.safetensors` (float32) with `bert.*` (the LM
/// under BertModel's names) and `cls.predictions.*` (the MLM head; the tied
/// `cls.predictions.decoder.weight` = the word embeddings and `cls.predictions.decoder.bias` =
/// `cls.predictions.bias` written out too, as `BertForMaskedLM.state_dict()` has them),
/// `config.json` and `vocab.txt`.
public enum HuggingFaceExport {
    /// File names inside the exported folder.
    public static let weightsFile = "model.safetensors"
    public static let configFile = "config.json"
    public static let vocabularyFile = "vocab.txt"
    /// Written by `writeReferenceBatch`, read by `Tests/Fixtures/check_hf_export.py`.
    public static let referenceBatchFile = "kelm_reference_batch.h5"

    /// The Hugging Face `config.json` of a `BertForMaskedLM` with this architecture.
    public static func configJSON(_ c: BertConfig) throws -> Data {
        let object: [String: Any] = [
            "architectures": ["BertForMaskedLM"],
            "model_type": "bert",
            "vocab_size": c.vocabSize,
            "hidden_size": c.hiddenSize,
            "num_hidden_layers": c.numLayers,
            "num_attention_heads": c.numHeads,
            "intermediate_size": c.ffnSize,
            "max_position_embeddings": c.maxPositions,
            "type_vocab_size": c.typeVocabSize,
            "pad_token_id": c.padTokenId,
            "layer_norm_eps": decimal(c.layerNormEps),
            "hidden_act": "gelu",
            "hidden_dropout_prob": decimal(c.hiddenDropout),
            "attention_probs_dropout_prob": decimal(c.attentionDropout),
            "position_embedding_type": "absolute",
            "initializer_range": 0.02,
        ]
        return try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    }

    /// The Double whose shortest decimal form is the Float's (0.1 rather than 0.10000000149011612).
    static func decimal(_ x: Float) -> Double { Double("\(x)") ?? Double(x) }

    /// The tensors of `model.safetensors`: Hugging Face name → (our name, shape), in name order.
    /// `parameters` are our `lm.*` and `mlm.*` tensors, of the architecture `c`.
    public static func tensorNames(_ c: BertConfig) throws -> [(huggingFace: String, ours: String, shape: [Int])] {
        var table = ParameterTable()
        _ = try BertMaskedLM.Parameters(&table, config: c)
        var out: [(huggingFace: String, ours: String, shape: [Int])] = []
        for e in table.entries {
            guard let hf = HuggingFaceBert.huggingFaceName(for: e.name) else { continue }
            out.append((hf, e.name, e.shape))
        }
        out.append(("cls.predictions.decoder.weight", "lm.embeddings.word_embeddings.weight", [c.vocabSize, c.hiddenSize]))
        out.append(("cls.predictions.decoder.bias", "mlm.bias", [c.vocabSize]))
        return out.sorted { $0.huggingFace < $1.huggingFace }
    }

    /// Writes the folder `directory` (created if needed; the three files are each replaced
    /// atomically). `parameter(name)` returns our tensor `name` and its shape (reading it from a
    /// checkpoint); `source` names where they come from in errors.
    public static func write(directory: String, config c: BertConfig, vocabulary: [String], source: String,
                             parameter: (String) throws -> (values: [Float], shape: [Int])) throws {
        guard vocabulary.count == c.vocabSize else {
            throw HuggingFaceExportError.vocabularySize(source: source, tokens: vocabulary.count, expected: c.vocabSize)
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw HuggingFaceExportError.output(path: directory, reason: "cannot create the folder: \(error.localizedDescription)")
        }
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        var cache: [String: (values: [Float], shape: [Int])] = [:]
        for t in try tensorNames(c) {
            let tensor: (values: [Float], shape: [Int])
            if let cached = cache[t.ours] {
                tensor = cached
            } else {
                tensor = try parameter(t.ours)
                cache[t.ours] = tensor
            }
            guard tensor.shape == t.shape else {
                throw HuggingFaceExportError.shape(source: source, name: t.ours, found: tensor.shape, expected: t.shape)
            }
            try writer.add(t.huggingFace, shape: t.shape, values: tensor.values, dtype: .f32)
        }
        let path = { (name: String) in (directory as NSString).appendingPathComponent(name) }
        try AtomicFile.write(path(vocabularyFile)) { tmp in
            try Data((vocabulary.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: tmp))
        }
        let json = try configJSON(c)
        try AtomicFile.write(path(configFile)) { tmp in try json.write(to: URL(fileURLWithPath: tmp)) }
        try writer.write(to: path(weightsFile))
    }

    /// A fixed text batch and our text-only logits on it (DESIGN §7: the LM and the MLM head,
    /// what `BertForMaskedLM` computes), for comparing an export with `transformers`.
    public struct ReferenceBatch {
        public var batch: Int
        public var tokens: Int
        /// [batch, tokens] ids; row 1 ends in padding (id `padTokenId`, attention mask 0).
        public var inputIds: [Int32]
        public var attentionMask: [Int32]
        /// [batch, tokens, vocab] logits at every position, padding included.
        public var logits: [Float]
    }

    /// Computes the reference batch with `BertMaskedLM` (dropout off) from the tensors
    /// `parameter` returns (as in `write`).
    public static func referenceBatch(config c: BertConfig,
                                      parameter: (String) throws -> (values: [Float], shape: [Int])) throws -> ReferenceBatch {
        let B = 2, T = min(16, c.maxPositions)
        let model = try BertMaskedLM(config: c, maxBatch: B, maxTokens: T, logits: .all)
        for e in model.store.table.entries {
            let t = try parameter(e.name)
            guard t.shape == e.shape else {
                throw HuggingFaceExportError.shape(source: "reference batch", name: e.name, found: t.shape, expected: e.shape)
            }
            (e.ref.pointer(in: model.store.values.pointer)).update(from: t.values, count: e.count)
        }
        let batch = TokenBatch(capacityBatch: B, capacityTokens: T)
        batch.reshape(batch: B, tokens: T)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let padded = max(1, T / 3)
        for b in 0..<B {
            for t in 0..<T {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let real = b == 0 || t < T - padded
                let id = real ? Int32(Int((state >> 33) % UInt64(c.vocabSize))) : Int32(c.padTokenId)
                batch.inputIds.pointer[b * T + t] = id
                batch.attentionMask.pointer[b * T + t] = real ? 1 : 0
                batch.labels.pointer[b * T + t] = -100
            }
        }
        _ = model.forward(batch, mode: .inference)
        let V = c.vocabSize
        precondition(model.head.selectedRows == B * T, "logits .all computes every row")
        var logits = [Float](repeating: 0, count: B * T * V)
        for i in 0..<(B * T) {
            let row = model.head.row(i)
            for v in 0..<V { logits[row * V + v] = model.head.logits.pointer[i * V + v] }
        }
        return ReferenceBatch(batch: B, tokens: T, inputIds: Array(UnsafeBufferPointer(start: batch.inputIds.pointer, count: B * T)),
                              attentionMask: Array(UnsafeBufferPointer(start: batch.attentionMask.pointer, count: B * T)),
                              logits: logits)
    }

    /// Writes `referenceBatch` to `path` (HDF5: `/input_ids`, `/attention_mask` [B, T] int32,
    /// `/logits` [B, T, V] float32; root attribute format "kelm-dist-reference-batch").
    public static func writeReferenceBatch(_ r: ReferenceBatch, vocabSize: Int, to path: String) throws {
        try AtomicFile.write(path) { tmp in
            let f = try HDF5File.create(tmp)
            try f.setAttribute("format", "kelm-dist-reference-batch")
            try f.setAttribute("format_version", Int64(1))
            try f.writeDataset("/input_ids", r.inputIds, shape: [r.batch, r.tokens])
            try f.writeDataset("/attention_mask", r.attentionMask, shape: [r.batch, r.tokens])
            try f.writeDataset("/logits", r.logits, shape: [r.batch, r.tokens, vocabSize])
            try f.close()
        }
    }
}
