import Foundation
import KELMCheckpoint
import KELMHDF5
import KELMModel
import KELMNumerics
import KELMTestSupport
import XCTest

final class HuggingFaceImportTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../KELMModelTests/Fixtures").standardized

    func testNameMapping() {
        typealias M = HuggingFaceBert.Mapping
        XCTAssertEqual(HuggingFaceBert.mapping(forHuggingFace: "embeddings.word_embeddings.weight"),
                       M.parameter("lm.embeddings.word_embeddings.weight"))
        XCTAssertEqual(HuggingFaceBert.mapping(forHuggingFace: "bert.encoder.layer.3.output.LayerNorm.bias"),
                       M.parameter("lm.encoder.layer.3.output.LayerNorm.bias"))
        XCTAssertEqual(HuggingFaceBert.mapping(forHuggingFace: "cls.predictions.transform.LayerNorm.weight"),
                       M.parameter("mlm.transform.LayerNorm.weight"))
        XCTAssertEqual(HuggingFaceBert.mapping(forHuggingFace: "cls.predictions.bias"), M.parameter("mlm.bias"))
        XCTAssertEqual(HuggingFaceBert.mapping(forHuggingFace: "bert.encoder.layer.0.attention.output.LayerNorm.gamma"),
                       M.parameter("lm.encoder.layer.0.attention.output.LayerNorm.weight"))
        XCTAssertEqual(HuggingFaceBert.mapping(forHuggingFace: "bert.embeddings.LayerNorm.beta"),
                       M.parameter("lm.embeddings.LayerNorm.bias"))
        for ignored in ["bert.pooler.dense.weight", "embeddings.position_ids", "cls.predictions.decoder.weight",
                        "cls.predictions.decoder.bias", "cls.seq_relationship.weight"] {
            XCTAssertEqual(HuggingFaceBert.mapping(forHuggingFace: ignored), M.ignored, ignored)
        }
        XCTAssertNil(HuggingFaceBert.mapping(forHuggingFace: "roberta.embeddings.word_embeddings.weight"))
        // export direction is the inverse on every LM and head parameter
        for name in ["lm.encoder.layer.0.attention.self.query.weight", "mlm.bias", "mlm.transform.dense.bias"] {
            let hf = HuggingFaceBert.huggingFaceName(for: name)!
            XCTAssertEqual(HuggingFaceBert.mapping(forHuggingFace: hf), M.parameter(name))
        }
        XCTAssertNil(HuggingFaceBert.huggingFaceName(for: "gnn.node_in.weight"))
    }

    /// DESIGN §7 / issue: the pretrained MiniLM's last hidden states for real sentences equal
    /// transformers' `BertModel` within 1e-4.
    func testMiniLMHiddenStatesMatchTransformers() throws {
        let dir = try PretrainedLocator.miniLMDirectory()
        let (config, weights) = try HuggingFaceBert.open(directory: dir)
        XCTAssertEqual(config, BertConfig.miniLM)
        let file = try HDF5File.open(Self.fixtures.appendingPathComponent("minilm_hidden.h5").path)
        let ids = try file.openDataset("/inputs/input_ids").readInt32s()
        let mask = try file.openDataset("/inputs/attention_mask").readInt32s()
        let shape = try file.openDataset("/inputs/input_ids").shape()
        let (S, T) = (shape[0], shape[1])
        XCTAssertGreaterThanOrEqual(S, 5)
        let model = try BertMaskedLM(config: config, maxBatch: S, maxTokens: T)
        let report = try HuggingFaceBert.loadWeights(from: weights, into: model.store)
        XCTAssertEqual(report.loaded.count, 101)   // 5 embedding tensors + 6 layers × 16
        XCTAssertEqual(Set(report.notInFile), ["mlm.transform.dense.weight", "mlm.transform.dense.bias",
                                               "mlm.transform.LayerNorm.weight", "mlm.transform.LayerNorm.bias", "mlm.bias"])
        let batch = TokenBatch(capacityBatch: S, capacityTokens: T)
        for i in 0..<(S * T) {
            batch.inputIds.pointer[i] = ids[i]
            batch.attentionMask.pointer[i] = mask[i]
        }
        model.encode(batch, mode: .inference)
        let reference = try file.openDataset("/outputs/last_hidden_state").readFloats()
        let d = config.hiddenSize
        var worst = 0.0
        for i in 0..<(S * T) where mask[i] != 0 {
            for j in 0..<d {
                worst = max(worst, abs(Double(model.lastHiddenState[i * d + j]) - Double(reference[i * d + j])))
            }
        }
        XCTAssertLessThanOrEqual(worst, 1e-4, "max |error| over real tokens")
        print("MiniLM last hidden state vs transformers: max |error| \(worst) over \(S) sentences")
    }

    /// A `BertForMaskedLM` file (`bert.` prefix, `cls.predictions.*`) fills `lm.*` and `mlm.*`.
    func testMaskedLMFileWithPrefixFillsHead() throws {
        let file = try HDF5File.open(Self.fixtures.appendingPathComponent("bert_tiny.h5").path)
        let config = try HuggingFaceBert.parseConfig(Data(try file.openAttribute("config").readString().utf8), file: "bert_tiny.h5")
        let source = try BertMaskedLM(config: config, maxBatch: 1, maxTokens: 4)
        var writer = SafetensorsWriter()
        for e in source.store.table.entries {
            let values = try file.openDataset("/params/" + e.name.replacingOccurrences(of: ".", with: "/")).readFloats()
            try writer.add(HuggingFaceBert.huggingFaceName(for: e.name)!, shape: e.shape, values: values)
        }
        let word = try file.openDataset("/params/lm/embeddings/word_embeddings/weight").readFloats()
        try writer.add("cls.predictions.decoder.weight", shape: [config.vocabSize, config.hiddenSize], values: word)
        try writer.add("bert.pooler.dense.bias", shape: [config.hiddenSize], values: [Float](repeating: 1, count: config.hiddenSize))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-hf-\(UUID()).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try writer.write(to: path)

        let target = try BertMaskedLM(config: config, maxBatch: 1, maxTokens: 4)
        let report = try HuggingFaceBert.loadWeights(from: try SafetensorsFile(path: path), into: target.store)
        XCTAssertEqual(report.notInFile, [])
        XCTAssertEqual(Set(report.ignored), ["cls.predictions.decoder.weight", "bert.pooler.dense.bias"])
        for e in target.store.table.entries {
            let ref = try file.openDataset("/params/" + e.name.replacingOccurrences(of: ".", with: "/")).readFloats()
            XCTAssertEqual(Array(UnsafeBufferPointer(start: e.ref.pointer(in: target.store.values.pointer), count: e.count)), ref, e.name)
        }
    }

    func testNonFiniteWeightIsNamed() throws {
        let config = BertConfig(vocabSize: 10, hiddenSize: 4, numLayers: 1, numHeads: 2, ffnSize: 8, maxPositions: 8)
        let model = try BertMaskedLM(config: config, maxBatch: 1, maxTokens: 4)
        var values = [Float](repeating: 0.5, count: 40)
        values[13] = .nan
        var w = SafetensorsWriter()
        try w.add("embeddings.word_embeddings.weight", shape: [10, 4], values: values)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-hf-nan-\(UUID()).safetensors").path
        try w.write(to: path)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = try SafetensorsFile(path: path)
        XCTAssertThrowsError(try HuggingFaceBert.loadWeights(from: file, into: model.store)) { e in
            guard case let .nonFinite(f, name, index, value)? = e as? HuggingFaceImportError else { return XCTFail("\(e)") }
            XCTAssertEqual(f, path)
            XCTAssertEqual(name, "embeddings.word_embeddings.weight")
            XCTAssertEqual(index, 13)
            XCTAssertTrue(value.isNaN)
            XCTAssertEqual("\(e)", "\(path): tensor 'embeddings.word_embeddings.weight' holds nan at element 13; initial weights must be finite")
        }
    }

    func testErrorsNameTheFileAndTensor() throws {
        let config = BertConfig(vocabSize: 10, hiddenSize: 4, numLayers: 1, numHeads: 2, ffnSize: 8, maxPositions: 8)
        let model = try BertMaskedLM(config: config, maxBatch: 1, maxTokens: 4)
        let dir = FileManager.default.temporaryDirectory
        func write(_ build: (inout SafetensorsWriter) throws -> Void) throws -> SafetensorsFile {
            var w = SafetensorsWriter()
            try build(&w)
            let path = dir.appendingPathComponent("kelm-hf-err-\(UUID()).safetensors").path
            try w.write(to: path)
            addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
            return try SafetensorsFile(path: path)
        }
        let wrongShape = try write { try $0.add("embeddings.word_embeddings.weight", shape: [10, 5], values: [Float](repeating: 0, count: 50)) }
        XCTAssertThrowsError(try HuggingFaceBert.loadWeights(from: wrongShape, into: model.store)) { e in
            XCTAssertEqual(e as? HuggingFaceImportError, .shapeMismatch(file: wrongShape.path, name: "embeddings.word_embeddings.weight",
                                                                         expected: [10, 4], found: [10, 5]))
            XCTAssertTrue("\(e)".contains(wrongShape.path))
        }
        let stranger = try write { try $0.add("decoder.layers.0.weight", shape: [2], values: [1, 2]) }
        XCTAssertThrowsError(try HuggingFaceBert.loadWeights(from: stranger, into: model.store)) { e in
            XCTAssertEqual(e as? HuggingFaceImportError, .unexpectedTensor(file: stranger.path, name: "decoder.layers.0.weight"))
        }
        let partial = try write { try $0.add("embeddings.word_embeddings.weight", shape: [10, 4], values: [Float](repeating: 0, count: 40)) }
        XCTAssertThrowsError(try HuggingFaceBert.loadWeights(from: partial, into: model.store)) { e in
            XCTAssertEqual(e as? HuggingFaceImportError, .missingTensor(file: partial.path, name: "embeddings.position_embeddings.weight"))
        }
        XCTAssertThrowsError(try HuggingFaceBert.parseConfig(Data(#"{"vocab_size": "many"}"#.utf8), file: "c.json")) { e in
            XCTAssertEqual(e as? HuggingFaceImportError, .badConfigValue(file: "c.json", key: "vocab_size", expected: "an integer"))
        }
        XCTAssertThrowsError(try HuggingFaceBert.parseConfig(Data(#"{"vocab_size": 5, "hidden_act": "relu"}"#.utf8), file: "c.json"))
    }
}
