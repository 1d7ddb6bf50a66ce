import KELMModel
import XCTest
@testable import KELMBenchmarks

final class FlopCountTests: XCTestCase {
    /// DESIGN §11 by hand on a small shape.
    func testCountsByHand() {
        let c = BertConfig(vocabSize: 10, hiddenSize: 4, numLayers: 2, numHeads: 2, ffnSize: 8)
        let n = 2.0 * 3  // B 2, T 3
        let weights = 4.0 * 16 + 2 * 32           // q, k, v, o (d²) + two FFN matrices (d·d_ff)
        let attention = 4.0 * 2 * 9 * 4           // 4·B·T²·d
        let head = 16.0 + 40                      // d² + d·V per position
        let full = LMFlopCount(config: c, batch: 2, tokens: 3, logitRows: 5)
        XCTAssertEqual(full.forward, 2 * (2 * weights * n + attention) + 2 * head * 5)
        XCTAssertEqual(full.backward, 2 * (4 * weights * n + 2 * attention) + 4 * head * 5)
        // frozen embeddings make the tied decoder's backward 2·d·V; frozen attention its weights 2Pn
        let frozen = LMFlopCount(config: c, batch: 2, tokens: 3, logitRows: 5, frozenEmbeddings: true, frozenAttention: true)
        XCTAssertEqual(frozen.backward, 2 * (2 * 64 * n + 4 * 64 * n + 2 * attention) + (4 * 16 + 2 * 40) * 5)
        XCTAssertEqual(frozen.forward, full.forward)
    }

    /// The figure for `bench lm --all-positions` on the MiniLM shape: 141.8 GFLOP.
    func testMiniLMAllPositions() {
        let f = LMFlopCount(config: .miniLM, batch: 8, tokens: 128, logitRows: 1024)
        XCTAssertEqual(f.total / 1e9, 141.8, accuracy: 0.05)
    }
}
