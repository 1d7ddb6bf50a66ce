import KELMMemory
import KELMModel
import KELMNumerics
import XCTest

final class RefreshScheduleTests: XCTestCase {
    /// DESIGN §4's defaults: 10, 10, 10, 20, 20, 20, 40, … up to 500.
    func testIntervalsGrowUpToTheCap() {
        var s = RefreshSchedule()
        var steps: [Int] = []
        var gaps: [Int] = []
        var last = 0
        for _ in 0..<22 {
            let step = s.nextRefreshStep
            steps.append(step)
            gaps.append(step - last)
            last = step
            s.recordRefresh(at: step)
        }
        // the step-0 fill is refresh 0; gaps between refreshes: T(0), T(1), …
        XCTAssertEqual(Array(gaps.prefix(15)), [10, 10, 10, 20, 20, 20, 40, 40, 40, 80, 80, 80, 160, 160, 160])
        // T(i) = min(10·2^⌊i/3⌋, 500)
        XCTAssertEqual((0..<20).map { s.interval(after: $0) },
                       [10, 10, 10, 20, 20, 20, 40, 40, 40, 80, 80, 80, 160, 160, 160, 320, 320, 320, 500, 500])
        XCTAssertEqual(s.refreshCount, 22)
    }

    func testRollingRefreshCoversEveryEntity() {
        let candidates = Array(0..<23)
        var next = 0
        var seen = Set<Int>()
        let block = 5
        for _ in 0..<Int((Double(23) / Double(block)).rounded(.up)) {
            let (ids, n) = EntityContextMemory.covered(.rolling(block: block), candidates: candidates, next: next)
            XCTAssertEqual(ids.count, block)
            seen.formUnion(ids)
            next = n
        }
        XCTAssertEqual(seen, Set(candidates), "every entity within ⌈|E|/block⌉ refreshes")
        XCTAssertEqual(EntityContextMemory.covered(.full, candidates: candidates, next: 7).entities, candidates)
    }

    /// After k refreshes of an entity, M = m^k · M₀ + (1 − m^k) · M_new (M_new constant while
    /// the parameters do not change).
    func testMomentumFormula() throws {
        let c = BertConfig(vocabSize: 23, hiddenSize: 8, numLayers: 2, numHeads: 2, ffnSize: 12, maxPositions: 10)
        var table = ParameterTable()
        let p = try BertMaskedLM.Parameters(&table, config: c)
        let store = ParameterStore(table: table)
        store.initialize(seed: 4)
        let source = EntityContextMemoryTests.Descriptions()
        let encoder = DescriptionEncoder(parameters: p, config: c, layerCount: 1, maxRows: 4 * 8, tokens: 8)
        let memory = EntityContextMemory(entityCount: 7, width: 8)
        try memory.fill(encoder: encoder, source: source, params: store.values.pointer, collective: SingleProcess())
        let fresh = memory.storage.floats()
        // start from something else, then refresh entities 2 and 5 three times
        try memory.write { s in [Float](repeating: 1, count: s.count).withUnsafeBufferPointer { s.store($0.baseAddress!, at: 0, count: s.count) } }
        let m: Float = 0.8
        for _ in 0..<3 {
            try memory.refresh(entities: [2, 5], momentum: m, encoder: encoder, source: source, params: store.values.pointer,
                               collective: SingleProcess())
        }
        let mk = m * m * m
        for e in 0..<7 {
            for j in 0..<8 {
                let expected = [2, 5].contains(e) ? mk * 1 + (1 - mk) * fresh[e * 8 + j] : 1
                XCTAssertEqual(memory.rows.value(row: e, column: j), expected, accuracy: 1e-5, "entity \(e)")
            }
        }
    }
}
