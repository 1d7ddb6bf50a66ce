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
        let encoder = DescriptionEncoder(parameters: p, config: c, layerCount: 1, batch: 2, tokens: 8)
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
