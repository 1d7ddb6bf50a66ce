import KELMDistributed
import KELMMemory
import KELMModel
import KELMMPI
import KELMNumerics
import XCTest

/// Under mpirun -np 2 and 3 (test script) and at one rank: the memory filled and refreshed by
/// N ranks, each encoding a block, equals the one-rank memory.
final class MultiRankMemoryTests: XCTestCase {
    func testRefreshOnRanksEqualsOneRank() throws {
        let world = try MPIRuntime.world()
        let c = BertConfig(vocabSize: 23, hiddenSize: 8, numLayers: 2, numHeads: 2, ffnSize: 12, maxPositions: 10)
        var table = ParameterTable()
        let p = try BertMaskedLM.Parameters(&table, config: c)
        let store = ParameterStore(table: table)
        store.initialize(seed: 5)
        let source = EntityContextMemoryTests.Descriptions()
        let encoder = DescriptionEncoder(parameters: p, config: c, layerCount: 1, batch: 2, tokens: 8)
        func run(_ collective: Collective) throws -> [Float] {
            let memory = EntityContextMemory(entityCount: 7, width: 8)
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
            return memory.values.toArray()
        }
        let saved = store.values.toArray()
        let distributed = try run(MPICollective(world))
        saved.withUnsafeBufferPointer { store.values.pointer.update(from: $0.baseAddress!, count: saved.count) }
        let single = try run(SingleProcess())
        for i in 0..<single.count { XCTAssertEqual(distributed[i], single[i], accuracy: 1e-6, "element \(i) at \(world.size) ranks") }
    }
}
