import Foundation
import KELMCheckpoint
import KELMHDF5
import KELMModel
import KELMNumerics
import XCTest

/// The weights-only file and the Hugging Face folder of `kelm-dist export` (DESIGN §7).
final class ExportTests: XCTestCase {
    /// `Tests/Fixtures/bert_mlm_keys_tiny.json`: what `BertForMaskedLM` (transformers 5.x) has
    /// for the architecture of configs/tiny.yaml, written by `Tests/Fixtures/make_bert_mlm_keys.py`.
    static let keyList = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Fixtures/bert_mlm_keys_tiny.json").standardized

    var directory = ""

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-export-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try FileManager.default.removeItem(atPath: directory)
    }

    /// The key list and the architecture it was made for.
    static func expectedKeys() throws -> (config: BertConfig, keys: [String: [Int]], tied: [String: String]) {
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: keyList)) as? [String: Any])
        let c = try XCTUnwrap(json["config"] as? [String: Any])
        let data = try JSONSerialization.data(withJSONObject: c)
        let config = try HuggingFaceBert.parseConfig(data, file: keyList.path)
        var keys: [String: [Int]] = [:]
        for k in try XCTUnwrap(json["keys"] as? [[String: Any]]) {
            keys[try XCTUnwrap(k["name"] as? String)] = try XCTUnwrap(k["shape"] as? [Int])
        }
        return (config, keys, try XCTUnwrap(json["tied"] as? [String: String]))
    }

    func testHuggingFaceFolderHasExactlyTheKeysOfBertForMaskedLM() throws {
        let (config, keys, tied) = try Self.expectedKeys()
        XCTAssertEqual(keys.count, 44)
        var table = ParameterTable()
        _ = try BertMaskedLM.Parameters(&table, config: config)
        let store = ParameterStore(table: table)
        store.initialize(seed: 3)
        for i in 0..<table.count { store.values.pointer[i] += Float(i % 7) * 0.01 }
        let parameter: (String) throws -> (values: [Float], shape: [Int]) = { name in
            let e = try table.entry(named: name)
            return (Array(try store.values(name)), e.shape)
        }
        let vocabulary = (0..<config.vocabSize).map { "t\($0)" }
        let out = (directory as NSString).appendingPathComponent("hf")
        try HuggingFaceExport.write(directory: out, config: config, vocabulary: vocabulary, source: "test", parameter: parameter)

        let file = try SafetensorsFile(path: out + "/model.safetensors")
        XCTAssertEqual(Set(file.names), Set(keys.keys), "unexpected: \(Set(file.names).subtracting(keys.keys)), missing: \(Set(keys.keys).subtracting(file.names))")
        for name in file.names {
            let info = try file.info(name)
            XCTAssertEqual(info.shape, keys[name], name)
            XCTAssertEqual(info.dtype, .f32, name)
            if let source = tied[name] {
                XCTAssertEqual(try file.readFloats(name), try file.readFloats(source), "\(name) is tied to \(source)")
            }
            switch HuggingFaceBert.mapping(forHuggingFace: name) {
            case .parameter(let ours): XCTAssertEqual(try file.readFloats(name), Array(try store.values(ours)), name)
            case .ignored: XCTAssertTrue(name.hasPrefix("cls.predictions.decoder."), name)
            case nil: XCTFail("\(name) has no mapping")
            }
        }
        // the import reads it back into the same values
        let back = try BertMaskedLM(config: try HuggingFaceBert.readConfig(URL(fileURLWithPath: out + "/config.json")), maxBatch: 1, maxTokens: 4)
        try HuggingFaceBert.loadWeights(from: file, into: back.store)
        XCTAssertEqual(back.store.values.toArray(), store.values.toArray())

        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/config.json"))) as? [String: Any])
        XCTAssertEqual(json["architectures"] as? [String], ["BertForMaskedLM"])
        XCTAssertEqual(json["model_type"] as? String, "bert")
        XCTAssertEqual(json["hidden_act"] as? String, "gelu")
        XCTAssertEqual(json["position_embedding_type"] as? String, "absolute")
        XCTAssertEqual(json["hidden_dropout_prob"] as? Double, 0.1)
        XCTAssertEqual(json["layer_norm_eps"] as? Double, 1e-12)
        for (key, value) in [("vocab_size", 512), ("hidden_size", 32), ("num_hidden_layers", 2), ("num_attention_heads", 4),
                             ("intermediate_size", 64), ("max_position_embeddings", 64), ("type_vocab_size", 2), ("pad_token_id", 0)] {
            XCTAssertEqual(json[key] as? Int, value, key)
        }
        XCTAssertEqual(try String(contentsOfFile: out + "/vocab.txt", encoding: .utf8), vocabulary.joined(separator: "\n") + "\n")

        XCTAssertThrowsError(try HuggingFaceExport.write(directory: out, config: config, vocabulary: ["a"], source: "test", parameter: parameter)) {
            XCTAssertEqual("\($0)", "vocabulary test: 1 tokens, but the model's vocab_size is 512")
        }
    }

    func testReferenceBatchIsTheTextOnlyModel() throws {
        let (config, _, _) = try Self.expectedKeys()
        var table = ParameterTable()
        _ = try BertMaskedLM.Parameters(&table, config: config)
        let store = ParameterStore(table: table)
        store.initialize(seed: 5)
        let r = try HuggingFaceExport.referenceBatch(config: config) { name in
            (Array(try store.values(name)), try table.entry(named: name).shape)
        }
        XCTAssertEqual(r.inputIds.count, r.batch * r.tokens)
        XCTAssertEqual(r.logits.count, r.batch * r.tokens * config.vocabSize)
        XCTAssertTrue(r.attentionMask.contains(0), "row 1 is padded")
        XCTAssertTrue(r.logits.allSatisfy { $0.isFinite })
        let path = (directory as NSString).appendingPathComponent("ref.h5")
        try HuggingFaceExport.writeReferenceBatch(r, vocabSize: config.vocabSize, to: path)
        let f = try HDF5File.open(path)
        XCTAssertEqual(try f.withDataset("/logits") { try $0.shape() }, [r.batch, r.tokens, config.vocabSize])
        try f.close()
    }
}
