import KELMDistributed
import KELMMemory
import KELMModel
import KELMMPI
import KELMNumerics
import KELMTestSupport
import XCTest

/// Under mpirun -np 2 and 3 (test script) and at one rank: the memory filled and refreshed by
/// N ranks, each encoding a block, equals the one-rank memory.
final class MultiRankMemoryTests: XCTestCase {
    func testRefreshOnRanksEqualsOneRank() throws {
        let world = try MPIRuntime.world()
        let (distributed, single) = try refreshed(dtype: .float32, world: world)
        for i in 0..<single.count { XCTAssertEqual(distributed[i], single[i], accuracy: 1e-6, "element \(i) at \(world.size) ranks") }
    }

    /// Descriptions of 2 … 16 tokens with their spans anywhere (also s = o).
    final class VariedDescriptions: DescriptionSource {
        let entityCount = 41
        func description(of e: Int, into tokens: UnsafeMutablePointer<Int32>, capacity: Int) throws -> (length: Int, start: Int, end: Int) {
            let length = min(capacity, 2 + (e * 7) % 15)
            tokens[0] = 2
            for t in 1..<max(1, length - 1) { tokens[t] = Int32(5 + (e * 5 + t * 3) % 17) }
            tokens[length - 1] = 3
            let s = (e * 3) % length, o = min(length - 1, s + e % 3)
            return (length, s, o)
        }
    }

    /// The length-batched fill (each batch padded to its own longest, the top layer run at (s, o)
    /// only, the ranks each encoding a block of batches) equals the padded encoding — every
    /// description padded to the full 16 tokens, every LM1 layer run at every row — within
    /// 1e-5 relative, and is the same bit for bit at every number of ranks.
    func testLengthBatchedFillEqualsPaddedEncodingAtAnyRankCount() throws {
        let world = try MPIRuntime.world()
        let c = BertConfig(vocabSize: 23, hiddenSize: 8, numLayers: 3, numHeads: 2, ffnSize: 12, maxPositions: 16)
        var table = ParameterTable()
        let p = try BertMaskedLM.Parameters(&table, config: c)
        let store = ParameterStore(table: table)
        store.initialize(seed: 8)
        let source = VariedDescriptions(), E = source.entityCount, D = 16
        // the padded reference: one batch of every description at T = 16, the first two layers in full
        let lm = try BertMaskedLM(config: { var x = c; x.hiddenDropout = 0; x.attentionDropout = 0; return x }(), maxBatch: E, maxTokens: D)
        lm.store.values.pointer.update(from: store.values.pointer, count: store.values.count)
        let batch = TokenBatch(capacityBatch: E, capacityTokens: D)
        var spans: [(Int, Int)] = []
        for e in 0..<E {
            let r = try source.description(of: e, into: batch.inputIds.pointer + e * D, capacity: D)
            for t in 0..<D { batch.attentionMask.pointer[e * D + t] = t < r.length ? 1 : 0 }
            for t in r.length..<D { batch.inputIds.pointer[e * D + t] = 0 }
            spans.append((r.start, r.end))
        }
        lm.embeddings.forward(batch: batch, params: lm.store.values.pointer, mode: .inference)
        lm.layers[0].forward(x: lm.embeddings.output.pointer, batch: batch, params: lm.store.values.pointer, mode: .inference)
        lm.layers[1].forward(x: lm.layers[0].output.pointer, batch: batch, params: lm.store.values.pointer, mode: .inference)
        let z = lm.layers[1].output.pointer
        var reference = [Float](repeating: 0, count: E * 8)
        for e in 0..<E { for j in 0..<8 { reference[e * 8 + j] = 0.5 * (z[(e * D + spans[e].0) * 8 + j] + z[(e * D + spans[e].1) * 8 + j]) } }
        let scale = max(1, reference.map(abs).max()!)
        // batches of at most 48 positions: many batches, several per rank
        let encoder = DescriptionEncoder(parameters: p, config: c, layerCount: 2, maxRows: 48, tokens: D)
        XCTAssertGreaterThan(try encoder.plan(entities: Array(0..<E), source: source).batches.count, 6)
        func filled(_ collective: Collective) throws -> [Float] {
            let memory = EntityContextMemory(entityCount: E, width: 8)
            try memory.fill(encoder: encoder, source: source, params: store.values.pointer, collective: collective)
            return memory.storage.floats()
        }
        let distributed = try filled(MPICollective(world)), single = try filled(SingleProcess())
        for i in 0..<reference.count {
            XCTAssertLessThanOrEqual(abs(distributed[i] - reference[i]), 1e-5 * scale, "element \(i) at \(world.size) ranks")
        }
        XCTAssertEqual(distributed.map(\.bitPattern), single.map(\.bitPattern), "\(world.size) ranks = one rank, bit for bit")
        // and a refresh of a subset likewise
        let memory = EntityContextMemory(entityCount: E, width: 8)
        try memory.refresh(entities: Array(stride(from: 3, to: E, by: 2)), momentum: 0, encoder: encoder, source: source,
                           params: store.values.pointer, collective: MPICollective(world))
        for e in stride(from: 3, to: E, by: 2) {
            for j in 0..<8 { XCTAssertLessThanOrEqual(abs(memory.rows.value(row: e, column: j) - reference[e * 8 + j]), 1e-5 * scale) }
        }
    }

    /// float16: every rank holds bit-identical rows, within half precision of the one-rank rows
    /// (the ranks' float32 encodings may differ from one rank's in the last bits, which rounding
    /// to half can turn into one unit of the last place).
    func testFloat16RefreshIsIdenticalOnEveryRank() throws {
        let world = try MPIRuntime.world()
        let (distributed, single) = try refreshed(dtype: .float16, world: world)
        let all = try distributed.withUnsafeBufferPointer { try MPICollective(world).allGatherV($0) }
        for r in 0..<world.size {
            let mismatched = (0..<distributed.count).filter { all[r * distributed.count + $0].bitPattern != all[$0].bitPattern }
            XCTAssertEqual(mismatched, [], "rank \(r)'s float16 rows differ from rank 0's")
        }
        for i in 0..<single.count {
            XCTAssertTrue(HalfPrecision.within(distributed[i], single[i], roundings: 4),
                          "element \(i) at \(world.size) ranks: \(distributed[i]) vs \(single[i])")
        }
    }

    /// The memory after a fill and three rolling refreshes on every rank of `world`, and on one rank.
    func refreshed(dtype: EntityMemoryDType, world: Communicator) throws -> (distributed: [Float], single: [Float]) {
        let c = BertConfig(vocabSize: 23, hiddenSize: 8, numLayers: 2, numHeads: 2, ffnSize: 12, maxPositions: 10)
        var table = ParameterTable()
        let p = try BertMaskedLM.Parameters(&table, config: c)
        let store = ParameterStore(table: table)
        store.initialize(seed: 5)
        let source = EntityContextMemoryTests.Descriptions()
        let encoder = DescriptionEncoder(parameters: p, config: c, layerCount: 1, maxRows: 2 * 8, tokens: 8)
        func run(_ collective: Collective) throws -> [Float] {
            let memory = EntityContextMemory(entityCount: 7, width: 8, dtype: dtype)
            try memory.fill(encoder: encoder, source: source, params: store.values.pointer, collective: collective)
            var next = 0
            for _ in 0..<3 {
                // change the LM a little between refreshes, as training does
                for i in 0..<store.values.count { store.values.pointer[i] *= 0.99 }
                let (ids, n) = EntityContextMemory.covered(.rolling(block: 3), candidates: Array(0..<7), next: next)
                next = n
                try memory.refresh(entities: ids, momentum: 0.8, encoder: encoder, source: source,
                                   params: store.values.pointer, collective: collective)
            }
            return memory.storage.floats()
        }
        let saved = store.values.toArray()
        let distributed = try run(MPICollective(world))
        saved.withUnsafeBufferPointer { store.values.pointer.update(from: $0.baseAddress!, count: saved.count) }
        return (distributed, try run(SingleProcess()))
    }
}
