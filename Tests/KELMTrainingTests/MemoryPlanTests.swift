import Foundation
import KELMBatches
import KELMConfig
import KELMModel
import XCTest
@testable import KELMTraining

/// Sizes are bounded before anything is allocated, and the planned memory is compared with the
/// machine's (issue 20, item 6: sizes that trapped or aborted allocating 189 GB).
final class MemoryPlanTests: XCTestCase {
    func plan(_ overrides: [String], entities: Int = 1_000, ranks: Int = 1) throws -> MemoryPlan {
        let config = try ConfigLoader.load(overrides: overrides)
        return try MemoryPlan(config: config, fusion: config.fusionConfig(numRelations: 8), entities: entities, ranksOnNode: ranks)
    }

    func testEverySizeHasAnUpperBound() {
        // (the three, and others; hidden_size 999999936 is divisible by the 12 heads, so
        // that the bound is the only error)
        for (key, value) in [("model.hidden_size", "999999936"), ("model.max_nodes", "1000000000"), ("model.vocab_size", "4000000000"),
                             ("train.micro_batch", "100000000"), ("model.num_layers", "100000"), ("model.max_positions", "10000000")] {
            XCTAssertThrowsError(try ConfigLoader.load(overrides: ["\(key)=\(value)"]), key) { e in
                guard let error = e as? ConfigError else { return XCTFail("\(e)") }
                XCTAssertEqual(error.key, key)
                XCTAssertTrue("\(error)".contains("(the largest size kelm-dist accepts), found \(value)"), "\(error)")
            }
        }
    }

    func testThePlanGrowsWithTheSizesAndNamesThemWhenTooLarge() throws {
        let small = try plan([])
        XCTAssertGreaterThan(small.parameters, 0)
        XCTAssertGreaterThan(small.activations, 0)
        XCTAssertEqual(small.nodeBytes, small.parameters + small.activations + small.descriptionEncoder + small.entityMemory)
        XCTAssertNoThrow(try small.check(available: small.nodeBytes))
        XCTAssertGreaterThan(try plan(["model.vocab_size=200000"]).parameters, small.parameters)
        XCTAssertGreaterThan(try plan(["train.micro_batch=64"]).activations, small.activations)
        XCTAssertEqual(try plan([], ranks: 2).nodeBytes, 2 * (small.nodeBytes - small.entityMemory) + small.entityMemory,
                       "every rank of the node has its own model; the memory is shared")
        XCTAssertEqual(try plan(["memory.dtype=float16"]).entityMemory * 2, small.entityMemory)
        XCTAssertThrowsError(try small.check(available: small.nodeBytes - 1)) { e in
            let text = "\(e)"
            XCTAssertTrue(text.hasPrefix("the model and its buffers need about "), text)
            for key in ["model.vocab_size", "train.micro_batch", "memory.description_tokens", "memory.dtype"] {
                XCTAssertTrue(text.contains(key), "\(key) in \(text)")
            }
        }
        // within the bounds, but not within this machine: a clear error before allocating
        let huge = try plan(["model.vocab_size=16000000", "model.hidden_size=8192", "model.num_heads=8"])
        XCTAssertGreaterThan(huge.parameters, 2_000_000_000_000)
        if let available = MemoryPlan.availableBytes() { XCTAssertThrowsError(try huge.check(available: available)) }
    }
}
