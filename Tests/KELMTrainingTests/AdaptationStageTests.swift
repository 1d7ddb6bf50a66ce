import Foundation
import KELMBatches
import KELMCheckpoint
import KELMConfig
import KELMModel
import KELMNumerics
import XCTest
@testable import KELMTraining

/// `train.adapt_steps` (DESIGN §5): the first N steps train under `full`, then the preset takes
/// over and attribution first runs at step N.
final class AdaptationStageTests: XCTestCase {
    static func config(adapt: Int, policy: String = "knowledge-paths", steps: Int = 6) throws -> KELMConfig {
        var c = try MultiRankTrainingTests.config(microBatch: 2, policy: policy)
        c.train.adaptSteps = adapt
        c.train.steps = steps
        c.routing.interval = 3
        return c
    }

    func testAdaptationStageIsFullThenThePresetTakesOver() throws {
        let data = MultiRankTrainingTests.data()
        let adapted = try Trainer(config: try Self.config(adapt: 2), data: data, collective: SingleProcess())
        let full = try Trainer(config: try Self.config(adapt: 0, policy: "full"), data: data, collective: SingleProcess())
        XCTAssertEqual(adapted.stages.map(\.preset), [.full, .knowledgePaths])
        XCTAssertTrue(adapted.notes.contains { $0.contains("MLM-adaptation stage: steps 0 to 1") }, "\(adapted.notes)")
        var metrics: [StepMetrics] = []
        for _ in 0..<2 {
            metrics.append(try adapted.trainStep())
            _ = try full.trainStep()
        }
        // the adaptation stage is the full preset, bit for bit
        XCTAssertEqual(adapted.model.store.values.toArray().map(\.bitPattern), full.model.store.values.toArray().map(\.bitPattern))
        XCTAssertEqual(adapted.paths?.lastRefreshStep, -1, "no attribution during the adaptation stage")
        XCTAssertTrue((0..<(2 * 24)).allSatisfy { adapted.routedOptimizer!.neuronSteps.pointer[$0] == 2 }, "every neuron was updated twice")
        let embeddings = try adapted.model.store.values("lm.embeddings.word_embeddings.weight").map { $0 }
        let attention = try adapted.model.store.values("lm.encoder.layer.0.attention.self.query.weight").map { $0 }
        for _ in 2..<6 { metrics.append(try adapted.trainStep()) }
        XCTAssertEqual(metrics.map(\.param_policy), ["full", "full"] + Array(repeating: "knowledge-paths", count: 4))
        XCTAssertEqual(metrics[2].attribution_ms != nil, true, "attribution at step N = 2")
        XCTAssertNil(metrics[3].attribution_ms)
        XCTAssertNotNil(metrics[5].attribution_ms, "and every routing.interval = 3 steps after it")
        XCTAssertEqual(adapted.paths?.lastRefreshStep, 5)
        // frozen from step 2: the embeddings and attention keep their values
        XCTAssertEqual(try adapted.model.store.values("lm.embeddings.word_embeddings.weight").map { $0 }, embeddings)
        XCTAssertEqual(try adapted.model.store.values("lm.encoder.layer.0.attention.self.query.weight").map { $0 }, attention)
        XCTAssertLessThan(metrics[3].bytes_allreduced, metrics[1].bytes_allreduced / 2, "far fewer bytes after the switch")
        // selected neurons count their updates on top of the two full steps
        let steps = (0..<(2 * 24)).map { adapted.routedOptimizer!.neuronSteps.pointer[$0] }
        XCTAssertEqual(steps.min(), 2)
        XCTAssertGreaterThan(steps.max()!, 2)
        XCTAssertLessThanOrEqual(steps.max()!, 6)
    }

    /// A pretrained LM without an MLM head under a preset that freezes the tied decoder from
    /// step 0 gets one warning; with an adaptation stage, or with an MLM head, none.
    func testWarningForAFrozenDecoderWithoutAnMLMHead() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kelm-adapt-warning-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = try Self.config(adapt: 0)
        let bert = base.fusionConfig(numRelations: 3).bert
        func writeFolder(_ path: String, withHead: Bool) throws {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            try HuggingFaceExport.configJSON(bert).write(to: URL(fileURLWithPath: path + "/config.json"))
            var writer = SafetensorsWriter()
            var random = RandomStream(RandomKey(seed: 1, purpose: .test))
            for t in try HuggingFaceExport.tensorNames(bert) where withHead || !t.huggingFace.hasPrefix("cls.") {
                try writer.add(t.huggingFace, shape: t.shape, values: (0..<t.shape.reduce(1, *)).map { _ in 0.02 * random.nextNormal() })
            }
            try writer.write(to: path + "/model.safetensors")
        }
        try writeFolder(directory + "/headless", withHead: false)
        try writeFolder(directory + "/with-head", withHead: true)
        let data = MultiRankTrainingTests.data()
        func warnings(_ config: KELMConfig, _ folder: String) throws -> [String] {
            try Trainer(config: config, data: data, collective: SingleProcess(), initFrom: directory + "/" + folder, fillMemory: false).warnings
        }
        let headless = try warnings(base, "headless")
        XCTAssertEqual(headless.count, 1)
        XCTAssertTrue(headless[0].contains("no MLM head") && headless[0].contains("train.adapt_steps"), headless[0])
        XCTAssertEqual(try warnings(try Self.config(adapt: 2), "headless"), [])
        XCTAssertEqual(try warnings(base, "with-head"), [])
        XCTAssertEqual(try warnings(try Self.config(adapt: 0, policy: "ffn-routed"), "headless"), [], "the decoder trains")
    }
}
