import Foundation
import KELMCheckpoint
import KELMHDF5
import KELMModel
import KELMNumerics
import KELMTestSupport
import XCTest

/// Our BERT masked LM against Hugging Face `BertForMaskedLM` (fixture bert_tiny.h5): logits,
/// hidden states, loss and every parameter gradient (AdamW steps: KELMTrainingTests/AdamWReferenceTests).
final class BertReferenceTests: XCTestCase {
    struct Loaded {
        let model: BertMaskedLM
        let batch: TokenBatch
        let file: HDF5File
        let B: Int, T: Int
    }

    func load(logits: LogitPositions = .all) throws -> Loaded {
        let file = try HDF5File.open(ReferenceFixture.path("bert_tiny.h5"))
        let configJSON = try file.openAttribute("config").readString()
        let config = try HuggingFaceBert.parseConfig(Data(configJSON.utf8), file: "bert_tiny.h5")
        let ids = try file.openDataset("/inputs/input_ids")
        let shape = try ids.shape()
        let (B, T) = (shape[0], shape[1])
        let model = try BertMaskedLM(config: config, maxBatch: B, maxTokens: T, logits: logits)
        for e in model.store.table.entries {
            let ds = try file.openDataset(ReferenceFixture.tensorPath("params", e.name))
            XCTAssertEqual(try ds.shape(), e.shape, e.name)
            try ds.read(into: UnsafeMutableBufferPointer(start: e.ref.pointer(in: model.store.values.pointer), count: e.count))
        }
        let batch = TokenBatch(capacityBatch: B, capacityTokens: T)
        let inputIds = try ids.readInt32s()
        let mask = try file.openDataset("/inputs/attention_mask").readInt32s()
        let labels = try file.openDataset("/inputs/labels").readInt32s()
        for i in 0..<(B * T) {
            batch.inputIds.pointer[i] = inputIds[i]
            batch.attentionMask.pointer[i] = mask[i]
            batch.labels.pointer[i] = labels[i]
        }
        for b in 0..<B { batch.sampleIndices[b] = UInt64(b) }
        return Loaded(model: model, batch: batch, file: file, B: B, T: T)
    }

    func testForwardMatchesTransformers() throws {
        let l = try load()
        let out = l.model.forward(l.batch, mode: .inference)
        let refLoss = try l.file.openAttribute("loss").readDouble()
        XCTAssertEqual(out.meanLoss, refLoss, accuracy: 1e-5)
        var cmp = TensorComparison(absoluteTolerance: 2e-5, relativeTolerance: 1e-5)
        cmp.compare("last_hidden_state", ours: l.model.lastHiddenState,
                    reference: try l.file.openDataset("/outputs/last_hidden_state").readFloats())
        XCTAssertEqual(l.model.head.selectedRows, l.B * l.T)
        cmp.compare("logits", ours: l.model.head.logits.pointer,
                    reference: try l.file.openDataset("/outputs/logits").readFloats())
        XCTAssertTrue(cmp.passed, cmp.description)
        print("forward vs transformers: \(cmp)")
    }

    /// Logits at masked positions only (training mode) are the same rows of the full logits.
    func testMaskedPositionLogitsAreRowsOfTheFullLogits() throws {
        let l = try load(logits: .masked)
        let out = l.model.forward(l.batch, mode: .inference)
        let refLoss = try l.file.openAttribute("loss").readDouble()
        XCTAssertEqual(out.meanLoss, refLoss, accuracy: 1e-5)
        let full = try l.file.openDataset("/outputs/logits").readFloats()
        let V = l.model.config.vocabSize
        var cmp = TensorComparison(absoluteTolerance: 2e-5, relativeTolerance: 1e-5)
        for i in 0..<l.model.head.selectedRows {
            let r = l.model.head.row(i)
            cmp.compare("logits row \(r)", ours: l.model.head.logits.pointer + i * V,
                        reference: Array(full[(r * V)..<((r + 1) * V)]))
        }
        XCTAssertEqual(l.model.head.selectedRows, l.batch.labelCount)
        XCTAssertTrue(cmp.passed, cmp.description)
    }

    func testGradientsMatchTransformers() throws {
        let l = try load()
        let out = l.model.forward(l.batch, mode: .inference)
        l.model.store.zeroGrads()
        l.model.backward(l.batch, scale: Float(1 / Double(out.count)), sinks: .all(l.model.store.grads.pointer))
        var cmp = TensorComparison(absoluteTolerance: 1e-6, relativeTolerance: 2e-5)
        for e in l.model.store.table.entries {
            cmp.compare(e.name, ours: e.ref.pointer(in: l.model.store.grads.pointer),
                        reference: try l.file.openDataset(ReferenceFixture.tensorPath("grads", e.name)).readFloats())
        }
        XCTAssertEqual(cmp.entries.count, l.model.store.table.entries.count)
        XCTAssertTrue(cmp.passed, cmp.description)
        print("gradients vs transformers: \(cmp)")
    }
}
