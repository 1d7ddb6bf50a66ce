import Foundation
import KELMConfig
import KELMEvaluation
import KELMNumerics
import XCTest
@testable import KELMTraining

/// The configuration as the training uses it: its fingerprint (compared by the ranks) and the
/// evaluation options built from it.
final class ConfigurationUseTests: XCTestCase {
    func testEvaluationOptionsFromTheConfiguration() throws {
        let c = try ConfigLoader.load(yaml: "eval:\n  every: 50\n  max_entities: 1000\n  max_segments: 200\n",
                                      overrides: ["eval.max_triples=150", "data.seed=9", "model.max_nodes=12"])
        // what Eval.swift builds from its options, and what TrainingRun builds from the config
        var cli = EvaluationOptions(config: c)
        cli.maxEntities = 1000
        cli.maxSegments = 200
        cli.maxTriples = 150
        XCTAssertEqual(EvaluationOptions(config: c, limits: c.eval), cli)
        XCTAssertEqual(cli.seed, 9)
        XCTAssertEqual(cli.maxNodes, 12)

        let unlimited = try ConfigLoader.load(overrides: ["eval.max_entities=null"])
        XCTAssertEqual(EvaluationOptions(config: unlimited, limits: unlimited.eval), EvaluationOptions(config: unlimited))
    }

    // MARK: - Fingerprint

    func testFingerprintIsStable() throws {
        let a = try KELMConfig().fingerprint()
        XCTAssertEqual(a, try KELMConfig().fingerprint())
        XCTAssertEqual(a, FNV1a64.hash(try KELMConfig().canonicalJSONData()))
        // The same configuration reached two ways has the same fingerprint.
        let fromFile = try ConfigLoader.load(yaml: "train:\n  micro_batch: 4\n")
        let fromSet = try ConfigLoader.load(overrides: ["train.micro_batch=4"])
        XCTAssertEqual(try fromFile.fingerprint(), try fromSet.fingerprint())
        XCTAssertEqual(try fromFile.fingerprintHex().count, 16)
    }

    func testFingerprintChangesWithAnyKey() throws {
        let base = try KELMConfig().fingerprint()
        var c = KELMConfig()
        c.train.microBatch = 9
        XCTAssertNotEqual(try c.fingerprint(), base)
        var d = KELMConfig()
        d.data.path = "x"
        XCTAssertNotEqual(try d.fingerprint(), base)
        var e = KELMConfig()
        e.memory.dtype = .float16
        XCTAssertNotEqual(try e.fingerprint(), base)
        XCTAssertNotEqual(try e.fingerprint(), try d.fingerprint())
    }
}
