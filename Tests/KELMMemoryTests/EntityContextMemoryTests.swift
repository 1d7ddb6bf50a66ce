import KELMMemory
import KELMModel
import KELMNumerics
import XCTest

final class EntityContextMemoryTests: XCTestCase {
    final class Descriptions: DescriptionSource {
        init() {}
        let entityCount = 7
        func description(of e: Int, into tokens: UnsafeMutablePointer<Int32>, capacity: Int) throws -> (length: Int, start: Int, end: Int) {
            let length = min(capacity, 3 + e % 4)
            tokens[0] = 2
            for t in 1..<(length - 1) { tokens[t] = Int32(5 + (e * 3 + t) % 15) }
            tokens[length - 1] = 3
            return (length, 1, length > 3 ? 2 : 1)
        }
    }

    /// `memory.features: random`: row e is N(0, 1) from (seed, e) alone: the same for any number
    /// of entities before it, another seed gives other rows, and the values look standard normal.
    func testRandomFeaturesAreSeededPerEntity() throws {
        let a = EntityContextMemory(entityCount: 400, width: 16)
        try a.fillRandom(seed: 3)
        let again = EntityContextMemory(entityCount: 400, width: 16)
        try again.fillRandom(seed: 3)
        XCTAssertEqual(a.storage.floats(), again.storage.floats())
        let other = EntityContextMemory(entityCount: 400, width: 16)
        try other.fillRandom(seed: 4)
        XCTAssertNotEqual(a.storage.floats(), other.storage.floats())
        // a row depends on its entity id and the seed only (not on the matrix it is in)
        let small = EntityContextMemory(entityCount: 10, width: 16)
        try small.fillRandom(seed: 3)
        XCTAssertEqual(small.storage.floats(), Array(a.storage.floats()[0..<160]))
        var stream = RandomStream(RandomKey(seed: 3, purpose: .entityFeatures, item: 7))
        for c in 0..<16 { XCTAssertEqual(a.storage.floats()[7 * 16 + c], stream.nextNormal()) }
        let v = a.storage.floats().map(Double.init)
        let mean = v.reduce(0, +) / Double(v.count)
        let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)
        XCTAssertEqual(mean, 0, accuracy: 0.05)
        XCTAssertEqual(variance, 1, accuracy: 0.08)
        XCTAssertNotEqual(Array(v[0..<16]), Array(v[16..<32]), "rows differ")
    }

    /// The plan of an encoding pass: sorted by length (ties by position), batches within both
    /// caps and padded to their own longest, rank blocks contiguous, covering every batch once,
    /// balanced by padded tokens; the batches do not depend on the number of ranks.
    func testDescriptionBatchesArePlannedTheSameForAnyRankCount() {
        var random = RandomStream(RandomKey(seed: 9, purpose: .test))
        let lengths = (0..<500).map { _ in 2 + random.nextInt(below: 63) }
        let plan = DescriptionBatches(lengths: lengths, maxDescriptions: 40, maxRows: 512)
        XCTAssertEqual(plan.order.map { Int($0) }.sorted(), Array(0..<500))
        XCTAssertEqual(plan.lengths.map { Int($0) }, plan.order.map { lengths[Int($0)] })
        XCTAssertEqual(plan.lengths, plan.lengths.sorted())
        for (a, b) in zip(plan.order, plan.order.dropFirst()) where lengths[Int(a)] == lengths[Int(b)] { XCTAssertLessThan(a, b) }
        XCTAssertEqual(plan.batches.first?.lowerBound, 0)
        XCTAssertEqual(plan.batches.last?.upperBound, 500)
        for (i, batch) in plan.batches.enumerated() {
            XCTAssertLessThanOrEqual(batch.count, 40)
            XCTAssertLessThanOrEqual(plan.paddedTokens(i), 512)
            if i > 0 { XCTAssertEqual(plan.batches[i - 1].upperBound, batch.lowerBound) }
            // maximal: the next description would break a cap
            if batch.upperBound < 500 {
                XCTAssertTrue(batch.count == 40 || (batch.count + 1) * Int(plan.lengths[batch.upperBound]) > 512)
            }
        }
        let total = (0..<plan.batches.count).reduce(0) { $0 + plan.paddedTokens($1) }
        let padding = total - lengths.reduce(0, +)
        XCTAssertLessThan(Double(padding), 0.05 * Double(total), "batches of similar length pad little")
        for size in 1...6 {
            let blocks = (0..<size).map { plan.block(rank: $0, size: size) }
            XCTAssertEqual(blocks.flatMap { Array($0) }, Array(plan.batches.indices), "\(size) ranks: every batch once, in order")
            let shares = blocks.map { $0.reduce(0) { $0 + plan.paddedTokens($1) } }
            let largest = (0..<plan.batches.count).map(plan.paddedTokens).max()!
            for share in shares { XCTAssertLessThanOrEqual(abs(share - total / size), largest, "\(size) ranks: balanced, \(shares)") }
            XCTAssertEqual(blocks.map { plan.entries($0).count }.reduce(0, +), 500)
        }
        // fewer batches than ranks: some ranks get none
        let tiny = DescriptionBatches(lengths: [5, 3], maxDescriptions: 40, maxRows: 512)
        XCTAssertEqual((0..<4).map { tiny.block(rank: $0, size: 4).count }.reduce(0, +), 1)
        XCTAssertEqual(DescriptionBatches(lengths: [], maxDescriptions: 4, maxRows: 8).block(rank: 1, size: 2), 0..<0)
    }

    /// M_new[e] = (Z_s + Z_o)/2 with Z the LM1 output of the description alone, whatever the
    /// other descriptions in the encoding batch.
    func testFillMatchesEncodingEachDescriptionAlone() throws {
        let c = BertConfig(vocabSize: 23, hiddenSize: 8, numLayers: 3, numHeads: 2, ffnSize: 12, maxPositions: 10)
        var table = ParameterTable()
        let p = try BertMaskedLM.Parameters(&table, config: c)
        let store = ParameterStore(table: table)
        store.initialize(seed: 3)
        let source = Descriptions()
        let memory = EntityContextMemory(entityCount: 7, width: 8)
        let encoder = DescriptionEncoder(parameters: p, config: c, layerCount: 2, maxRows: 3 * 8, tokens: 8)
        try memory.fill(encoder: encoder, source: source, params: store.values.pointer, collective: SingleProcess())
        let single = DescriptionEncoder(parameters: p, config: c, layerCount: 2, maxRows: 1 * 8, tokens: 8)
        for e in 0..<7 {
            let row = FlatBuffer(count: 8)
            try single.encode(entities: [e][...], source: source, params: store.values.pointer, output: row.pointer)
            for j in 0..<8 { XCTAssertEqual(memory.rows.value(row: e, column: j), row.pointer[j], accuracy: 1e-5, "entity \(e)") }
        }
        // by hand for entity 5: run the LM's first two layers on its description
        let lm = try BertMaskedLM(config: { var x = c; x.hiddenDropout = 0; x.attentionDropout = 0; return x }(), maxBatch: 1, maxTokens: 8)
        lm.store.values.pointer.update(from: store.values.pointer, count: store.values.count)
        let batch = TokenBatch(capacityBatch: 1, capacityTokens: 8)
        let span = try source.description(of: 5, into: batch.inputIds.pointer, capacity: 8)
        for t in 0..<8 { batch.attentionMask.pointer[t] = t < span.length ? 1 : 0 }
        for t in span.length..<8 { batch.inputIds.pointer[t] = 0 }
        lm.embeddings.forward(batch: batch, params: lm.store.values.pointer, mode: .inference)
        lm.layers[0].forward(x: lm.embeddings.output.pointer, batch: batch, params: lm.store.values.pointer, mode: .inference)
        lm.layers[1].forward(x: lm.layers[0].output.pointer, batch: batch, params: lm.store.values.pointer, mode: .inference)
        let z = lm.layers[1].output.pointer
        for j in 0..<8 {
            XCTAssertEqual(memory.rows.value(row: 5, column: j), 0.5 * (z[span.start * 8 + j] + z[span.end * 8 + j]), accuracy: 1e-5)
        }
    }
}
